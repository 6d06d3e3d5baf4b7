"""{{ cookiecutter.project_name }}: {{ cookiecutter.description }}.

``{{ cookiecutter.package }}.plugin`` registers the family (cheap, imported on every ``wgp`` start);
``{{ cookiecutter.package }}.model`` generates (imported when a job runs).
"""
