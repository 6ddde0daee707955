from datetime import UTC, datetime, timedelta

import pytest

from oryx_authorization.domain.errors import Conflict, InvalidValue, NotFound, TooManyAttempts
from oryx_authorization.domain.events import ProjectDeleted, ProjectMemberRemoved, UserDeleted
from oryx_authorization.domain.login import FREE_FAILURES, MAX_LOCKOUT, LoginThrottle
from oryx_authorization.domain.permissions import (
    PERMISSIONS_BY_PROJECT_ROLE,
    Permission,
    Role,
    is_allowed,
)
from oryx_authorization.domain.projects import Project
from oryx_authorization.domain.tokens import AccessToken, TokenKind
from oryx_authorization.domain.users import User, validate_password, validate_username

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_user(**kw: object) -> User:
    args = dict(
        id="u1",
        username="alice",
        role=Role.USER,
        password_hash="h",
        email=None,
        full_name="Alice",
        at=T0,
    )
    args.update(kw)
    return User.register(**args)  # type: ignore[arg-type]


class TestPermissions:
    def test_platform_admin_may_do_everything_even_outside_projects(self) -> None:
        for permission in Permission:
            assert is_allowed(platform_role=Role.ADMIN, project_role=None, permission=permission)

    def test_non_members_may_do_nothing(self) -> None:
        for permission in Permission:
            assert not is_allowed(
                platform_role=Role.DEVELOPER, project_role=None, permission=permission
            )

    def test_roles_nest(self) -> None:
        user = PERMISSIONS_BY_PROJECT_ROLE[Role.USER]
        developer = PERMISSIONS_BY_PROJECT_ROLE[Role.DEVELOPER]
        admin = PERMISSIONS_BY_PROJECT_ROLE[Role.ADMIN]
        assert user < developer < admin

    @pytest.mark.parametrize(
        ("role", "permission", "allowed"),
        [
            (Role.USER, Permission.RUN_CREATE, True),
            (Role.USER, Permission.WORKFLOW_WRITE, False),
            (Role.USER, Permission.ACTION_BUILD, False),
            (Role.DEVELOPER, Permission.ACTION_BUILD, True),
            (Role.DEVELOPER, Permission.WORKFLOW_DEPLOY, True),
            (Role.DEVELOPER, Permission.PROJECT_MEMBERS_MANAGE, False),
            (Role.ADMIN, Permission.PROJECT_MEMBERS_MANAGE, True),
        ],
    )
    def test_project_roles(self, role: Role, permission: Permission, allowed: bool) -> None:
        assert (
            is_allowed(platform_role=Role.USER, project_role=role, permission=permission) is allowed
        )


class TestUsers:
    @pytest.mark.parametrize("name", ["al", "alice", "a.b-c_d", "x" * 63, "0day"])
    def test_valid_usernames(self, name: str) -> None:
        assert validate_username(name) == name

    @pytest.mark.parametrize(
        "name", ["", "a", "Alice", "-bob", "bob smith", "x" * 64, "rob'; drop table", "é"]
    )
    def test_invalid_usernames_name_the_field(self, name: str) -> None:
        with pytest.raises(InvalidValue) as err:
            validate_username(name)
        assert err.value.field == "username"

    def test_password_length_bounds(self) -> None:
        with pytest.raises(InvalidValue, match="at least 8"):
            validate_password("short")
        with pytest.raises(InvalidValue, match="at most"):
            validate_password("x" * 257)
        assert validate_password("long enough")

    def test_control_characters_refused_in_full_name(self) -> None:
        with pytest.raises(InvalidValue):
            make_user(full_name="bad\x07name")

    def test_delete_records_the_event(self) -> None:
        user = make_user()
        user.delete(at=T0)
        assert user.events == [UserDeleted(user_id="u1", username="alice", occurred_at=T0)]


class TestProjects:
    def test_members_and_their_events(self) -> None:
        project = Project.create(id="p1", name=" Research ", description="", at=T0)
        assert project.name == "Research"
        project.add_member(user_id="u1", role=Role.DEVELOPER, at=T0)
        with pytest.raises(Conflict):
            project.add_member(user_id="u1", role=Role.USER, at=T0)
        project.change_member_role(user_id="u1", role=Role.ADMIN, at=T0)
        assert project.role_of("u1") is Role.ADMIN
        project.remove_member(user_id="u1", at=T0)
        assert project.role_of("u1") is None
        with pytest.raises(NotFound):
            project.remove_member(user_id="u1", at=T0)
        project.delete(at=T0)
        assert project.events == [
            ProjectMemberRemoved(project_id="p1", user_id="u1", occurred_at=T0),
            ProjectDeleted(project_id="p1", name="Research", occurred_at=T0),
        ]

    @pytest.mark.parametrize("name", ["", "   ", "x" * 101, "tab\tname"])
    def test_invalid_names(self, name: str) -> None:
        with pytest.raises(InvalidValue):
            Project.create(id="p", name=name, description="", at=T0)


class TestTokens:
    def test_expiry_and_revocation(self) -> None:
        token = AccessToken(
            id="t",
            user_id="u",
            kind=TokenKind.LOGIN,
            name="login",
            token_hash="h",
            created_at=T0,
            expires_at=T0 + timedelta(hours=1),
        )
        assert token.is_active(at=T0)
        assert not token.is_active(at=T0 + timedelta(hours=1))
        token.revoke(at=T0)
        assert not token.is_active(at=T0)


class TestLoginThrottle:
    def test_free_failures_then_growing_lockout(self) -> None:
        throttle = LoginThrottle(key="alice")
        for _ in range(FREE_FAILURES - 1):
            throttle.record_failure(at=T0)
            throttle.check(at=T0)
        throttle.record_failure(at=T0)
        with pytest.raises(TooManyAttempts) as err:
            throttle.check(at=T0)
        assert err.value.retry_after_seconds == 1
        throttle.check(at=T0 + timedelta(seconds=1))
        throttle.record_failure(at=T0 + timedelta(seconds=1))
        with pytest.raises(TooManyAttempts) as err:
            throttle.check(at=T0 + timedelta(seconds=1))
        assert err.value.retry_after_seconds == 2

    def test_lockout_is_capped(self) -> None:
        throttle = LoginThrottle(key="alice")
        for _ in range(60):
            throttle.record_failure(at=T0)
        assert throttle.locked_until == T0 + MAX_LOCKOUT

    def test_success_and_quiet_hours_reset(self) -> None:
        throttle = LoginThrottle(key="alice")
        for _ in range(FREE_FAILURES + 2):
            throttle.record_failure(at=T0)
        throttle.record_success()
        throttle.check(at=T0)
        for _ in range(FREE_FAILURES - 1):
            throttle.record_failure(at=T0)
        throttle.record_failure(at=T0 + timedelta(hours=2))
        assert throttle.failures == 1
