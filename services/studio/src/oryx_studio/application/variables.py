"""Project variables: create, read, change, delete."""

from dataclasses import dataclass

from oryx_studio.application.filestore import Filestore
from oryx_studio.application.ports import (
    Clock,
    IdGenerator,
    Page,
    UnitOfWork,
    UnitOfWorkFactory,
)
from oryx_studio.application.workflows import file_key, safe_file_name, studio_folder
from oryx_studio.domain.errors import Conflict, InUse, InvalidValue, NotFound
from oryx_studio.domain.types import FileValue
from oryx_studio.domain.variables import Variable, VariableType, check_variable_name


@dataclass(frozen=True, kw_only=True)
class UploadedFile:
    name: str
    data: bytes


@dataclass(frozen=True, kw_only=True)
class CreateVariable:
    name: str
    type: VariableType
    description: str = ""
    value: str | None = None
    file: UploadedFile | None = None


@dataclass(frozen=True, kw_only=True)
class ChangeVariable:
    name: str | None = None
    description: str | None = None
    value: str | None = None
    file: UploadedFile | None = None


async def get_variable(uow: UnitOfWork, *, project_id: str, variable_id: str) -> Variable:
    variable = await uow.variables.get(project_id=project_id, variable_id=variable_id)
    if variable is None:
        raise NotFound(f"variable {variable_id} not found", field="variable_id")
    return variable


class Variables:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        filestore: Filestore,
        clock: Clock,
        ids: IdGenerator,
        max_file_bytes: int,
    ) -> None:
        self._uow = uow
        self._files = filestore
        self._clock = clock
        self._ids = ids
        self._max_file_bytes = max_file_bytes

    async def _store(
        self, *, project_id: str, variable_id: str, upload: UploadedFile | None
    ) -> FileValue | None:
        if upload is None:
            return None
        if len(upload.data) > self._max_file_bytes:
            raise InvalidValue(
                f"the file is larger than {self._max_file_bytes} bytes", field="file"
            )
        name = safe_file_name(upload.name)
        key = file_key(
            project_id=project_id,
            owner=f"variables/{variable_id}",
            file_id=self._ids.new(),
            name=name,
        )
        await self._files.put(key, upload.data)
        return FileValue(key=key, name=name, size_bytes=len(upload.data))

    async def _check_name_free(
        self, uow: UnitOfWork, *, project_id: str, name: str, variable_id: str | None
    ) -> None:
        other = await uow.variables.by_name(project_id=project_id, name=name)
        if other is not None and other.id != variable_id:
            raise Conflict(
                f"the project already has a variable named {name}", field="name", code="name_taken"
            )

    async def create(self, *, project_id: str, cmd: CreateVariable) -> Variable:
        check_variable_name(cmd.name)
        if cmd.type is VariableType.FILE and cmd.file is None:
            raise InvalidValue("a file variable needs its file (multipart upload)", field="file")
        if cmd.type is not VariableType.FILE and cmd.file is not None:
            raise InvalidValue(
                f"a {cmd.type.value} variable takes a value, not a file", field="file"
            )
        variable_id = self._ids.new()
        async with self._uow() as uow:
            await self._check_name_free(uow, project_id=project_id, name=cmd.name, variable_id=None)
            file = await self._store(
                project_id=project_id, variable_id=variable_id, upload=cmd.file
            )
            variable = Variable.create(
                id=variable_id,
                project_id=project_id,
                name=cmd.name,
                type=cmd.type,
                description=cmd.description,
                value=cmd.value,
                file=file,
                at=self._clock.now(),
            )
            uow.variables.add(variable)
            await uow.commit()
        return variable

    async def list(self, *, project_id: str, limit: int, cursor: str | None) -> Page[Variable]:
        async with self._uow() as uow:
            return await uow.variables.page(project_id=project_id, limit=limit, cursor=cursor)

    async def get(self, *, project_id: str, variable_id: str) -> Variable:
        async with self._uow() as uow:
            return await get_variable(uow, project_id=project_id, variable_id=variable_id)

    async def change(self, *, project_id: str, variable_id: str, cmd: ChangeVariable) -> Variable:
        async with self._uow() as uow:
            variable = await get_variable(uow, project_id=project_id, variable_id=variable_id)
            if cmd.name is not None:
                await self._check_name_free(
                    uow, project_id=project_id, name=cmd.name, variable_id=variable.id
                )
            if cmd.file is not None and variable.type is not VariableType.FILE:
                raise InvalidValue(
                    f"a {variable.type.value} variable takes a value, not a file", field="file"
                )
            file = await self._store(
                project_id=project_id, variable_id=variable.id, upload=cmd.file
            )
            variable.change(
                name=cmd.name,
                description=cmd.description,
                value=cmd.value,
                file=file,
                at=self._clock.now(),
            )
            await uow.commit()
        return variable

    async def delete(self, *, project_id: str, variable_id: str) -> None:
        """Refused while a workflow uses the variable (its deploy would break)."""
        async with self._uow() as uow:
            variable = await get_variable(uow, project_id=project_id, variable_id=variable_id)
            used_by = await uow.workflows.using_variable(
                project_id=project_id, variable_id=variable.id
            )
            if used_by:
                raise InUse(
                    f"variable {variable.name} is used by workflows; unset those inputs first",
                    used_by=used_by,
                    field="variable_id",
                )
            await uow.variables.remove(variable)
            await uow.commit()
        await self._files.delete_prefix(f"{studio_folder(project_id)}/variables/{variable_id}")
