"""{{ cookiecutter.project_name }}: {{ cookiecutter.description }}.

``{{ cookiecutter.package }}.plugin`` registers the family (torch-free, imported on every ``wgp``
start); ``{{ cookiecutter.package }}.pipeline`` loads and runs the model and
``{{ cookiecutter.package }}.tiny`` builds its random-weight copy (both import torch and diffusers).
"""
