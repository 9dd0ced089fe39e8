"""The course's JupyterHub for a workshop room on one Linux server (``make workshop``).

``classlist`` reads the class list, ``auth`` logs learners in, ``limits`` caps each learner's
memory and CPU, ``spawner`` starts each learner's JupyterLab as their own Linux user,
``jupyterhub_config.py`` puts them together, ``room`` is the command line (start, check, sizing,
remove-users) and ``hubclient`` drives a hub through its REST API and kernel websockets.
"""
