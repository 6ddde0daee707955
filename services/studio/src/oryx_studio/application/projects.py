"""A deleted project takes its library, workflows, variables and files with it (the studio's
files only: other services clean up their own)."""

from oryx_studio.application.filestore import Filestore
from oryx_studio.application.ports import UnitOfWork
from oryx_studio.application.workflows import studio_folder


class Projects:
    def __init__(self, *, filestore: Filestore) -> None:
        self._files = filestore

    async def deleted(self, uow: UnitOfWork, *, project_id: str) -> None:
        """Within the message consumer's unit of work; harmless when repeated."""
        if not project_id:
            return  # never the built-in actions' project
        await self._files.delete_prefix(studio_folder(project_id))
        await uow.workflows.remove_project(project_id)
        await uow.variables.remove_project(project_id)
        await uow.actions.remove_project(project_id)
