"""Where projects name code envs: project settings (EXPLICIT_ENV) and code recipes whose
envSelection names an env. Indexed queries on the columns copied from the documents."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from labkeeper.db import Store
from labkeeper.projects.models import Project, ProjectObject

_PROJECT_COLUMN = {"PYTHON": Project.python_env, "R": Project.r_env}


def _usage(
    *, usage: str, lang: str, env: str, project_key: str, object_type: str, object_id: str
) -> dict[str, Any]:
    return {
        "envUsage": usage,
        "envLang": lang,
        "envName": env,
        "projectKey": project_key,
        "objectType": object_type,
        "objectId": object_id,
    }


def code_env_usages(store: Store, *, env_lang: str, env_name: str) -> list[dict[str, Any]]:
    """Usages of one code env (env_lang PYTHON or R, any case), DSS style."""
    lang = env_lang.upper()
    column = _PROJECT_COLUMN.get(lang)
    if column is None:
        return []
    with store.read() as s:
        projects = s.scalars(select(Project.key).where(column == env_name).order_by(Project.key)).all()
        recipes = s.execute(
            select(ProjectObject.project_key, ProjectObject.name)
            .where(
                ProjectObject.kind == "RECIPE",
                ProjectObject.env_lang == lang,
                ProjectObject.env_name == env_name,
            )
            .order_by(ProjectObject.project_key, ProjectObject.name)
        ).all()
    return [
        _usage(
            usage="PROJECT", lang=lang, env=env_name, project_key=key, object_type="PROJECT", object_id=key
        )
        for key in projects
    ] + [
        _usage(
            usage="RECIPE",
            lang=lang,
            env=env_name,
            project_key=row.project_key,
            object_type="RECIPE",
            object_id=row.name,
        )
        for row in recipes
    ]


def project_env_usages_all(store: Store) -> list[dict[str, Any]]:
    """Every usage of any code env by projects and recipes, DSS style."""
    with store.read() as s:
        projects = s.execute(
            select(Project.key, Project.python_env, Project.r_env)
            .where(or_(Project.python_env.is_not(None), Project.r_env.is_not(None)))
            .order_by(Project.key)
        ).all()
        recipes = s.execute(
            select(
                ProjectObject.project_key, ProjectObject.name, ProjectObject.env_lang, ProjectObject.env_name
            )
            .where(ProjectObject.kind == "RECIPE", ProjectObject.env_name.is_not(None))
            .order_by(ProjectObject.project_key, ProjectObject.name)
        ).all()
    usages = []
    for row in projects:
        for lang, env in (("PYTHON", row.python_env), ("R", row.r_env)):
            if env is not None:
                usages.append(
                    _usage(
                        usage="PROJECT",
                        lang=lang,
                        env=env,
                        project_key=row.key,
                        object_type="PROJECT",
                        object_id=row.key,
                    )
                )
    usages.extend(
        _usage(
            usage="RECIPE",
            lang=row.env_lang,
            env=row.env_name,
            project_key=row.project_key,
            object_type="RECIPE",
            object_id=row.name,
        )
        for row in recipes
    )
    return usages
