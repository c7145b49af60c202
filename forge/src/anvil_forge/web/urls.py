"""The web UI's URLs. Things are addressed by slug, like addresses: /o/<org>/p/<project>/s/<set>/prompts/<prompt>/."""

from django.urls import path

from .views import (
    accounts, channel_actions, channels, distribution, editor, editor_tests, forges, orgs, pages, palette, projects,
    prompt_sets, prompts, set_settings, versions,
)

app_name = "web"

O = "o/<slug:org>/"
P = O + "p/<slug:project>/"
S = P + "s/<slug:pset>/"
T = S + "prompts/<slug:prompt>/"
F = "forges/<str:forge>/"
R = F + "p/<uuid:project_id>/"

urlpatterns = [
    path("", pages.home, name="dashboard"),
    path("help", pages.help_page, name="help"),
    # forges (peering): known forges, browsing a remote read-only, connect / import; upload import
    path("forges", forges.index, name="forges"),
    path(F + "status", forges.status, name="forge_status"),
    path(F, forges.browse, name="forge"),
    path(F + "o/<uuid:org_id>/", forges.remote_org, name="forge_org"),
    path(R, forges.remote_project, name="forge_project"),
    path(R + "s/<slug:pset>/", forges.remote_project, name="forge_set"),
    path(R + "s/<slug:pset>/prompts/<slug:prompt>/", forges.remote_project, name="forge_prompt"),
    path(R + "connect", forges.connect, name="forge_connect"),
    path(R + "import", forges.import_remote, name="forge_import"),
    path("links/<uuid:link_id>/disconnect", forges.disconnect, name="forge_disconnect"),
    path("import", forges.import_upload, name="import_project"),
    path("palette", palette.search, name="palette"),
    # accounts
    path("signup", accounts.signup, name="signup"),
    path("login", accounts.login_view, name="login"),
    path("login/magic", accounts.magic_request, name="magic_request"),
    path("login/magic/<str:uidb64>/<str:token>", accounts.magic_consume, name="magic_consume"),
    path("logout", accounts.logout_view, name="logout"),
    path("verify/<str:uidb64>/<str:token>", accounts.verify_email, name="verify_email"),
    path("account", accounts.account, name="account"),
    path("password-reset", accounts.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent", accounts.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("password-reset/done", accounts.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("password-reset/<str:uidb64>/<str:token>", accounts.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("invitations/<str:token>", accounts.invitation, name="invitation"),
    # organisations
    path("orgs/", orgs.org_list, name="orgs"),
    path("orgs/new", orgs.org_create, name="org_create"),
    path("orgs/switch", orgs.switch, name="org_switch"),
    path(O, projects.project_list, name="org"),
    path(O + "new-project", projects.create, name="org_new_project"),
    path(O + "settings", orgs.settings_view, name="org_settings"),
    path(O + "delete", orgs.delete, name="org_delete"),
    path(O + "members", orgs.members_view, name="org_members"),
    path(O + "members/invite", orgs.invite, name="org_invite"),
    path(O + "members/<uuid:user_id>/role", orgs.change_role, name="org_member_role"),
    path(O + "members/<uuid:user_id>/remove", orgs.remove, name="org_member_remove"),
    path(O + "audit", orgs.audit, name="org_audit"),
    # projects
    path("projects/", projects.current, name="projects"),
    path(P, projects.detail, name="project"),
    path(P + "edit", projects.edit, name="project_edit"),
    path(P + "delete", projects.delete, name="project_delete"),
    path(P + "export", forges.export, name="project_export"),
    path(P + "new-set", set_settings.create, name="project_new_set"),
    path(P + "settings-check", set_settings.config_check, name="project_config_check"),
    path(P + "dependency-row", set_settings.dependency_row, name="project_dependency_row"),
    path(P + "tokens/new", distribution.create_token, name="project_token_create"),
    path(P + "tokens/<uuid:token_id>/revoke", distribution.revoke_token, name="project_token_revoke"),
    path(P + "deliveries/<uuid:delivery_id>/retry", distribution.retry_delivery, name="project_delivery_retry"),
    # channels, staged rollouts, publish requests (four-eyes approval)
    path(P + "channels/new", channel_actions.create, name="project_channel_create"),
    path(P + "channels/promote", channel_actions.promote, name="project_channel_promote"),
    path(P + "channels/<slug:channel>/", channels.detail, name="project_channel"),
    path(P + "channels/<slug:channel>/settings", channel_actions.update, name="project_channel_update"),
    path(P + "channels/<slug:channel>/delete", channel_actions.delete, name="project_channel_delete"),
    path(P + "channels/<slug:channel>/expand", channel_actions.expand, name="project_channel_expand"),
    path(P + "channels/<slug:channel>/rollback", channel_actions.rollback, name="project_channel_rollback"),
    path(P + "requests/<uuid:request_id>/<str:verb>", channel_actions.decide, name="project_request_decide"),
    # prompt sets
    path(S, prompt_sets.detail, name="set"),
    path(S + "edit", set_settings.edit, name="set_edit"),
    path(S + "delete", prompt_sets.delete, name="set_delete"),
    path(S + "status", prompt_sets.change_status, name="set_status"),
    path(S + "publish", distribution.publish, name="set_publish"),
    path(S + "new-prompt", prompts.create, name="set_new_prompt"),
    path(S + "new-version", versions.create, name="set_new_version"),
    path(S + "compare", versions.compare, name="set_compare"),
    path(S + "rollback", versions.rollback, name="set_rollback"),
    path(S + "editor/check", editor.check_view, name="set_editor_check"),
    path(S + "editor/preview", editor.preview_view, name="set_editor_preview"),
    path(S + "editor/param-row", editor.param_row, name="set_editor_param_row"),
    path(S + "editor/message-row", editor.message_row, name="set_editor_message_row"),
    path(S + "editor/missing", editor.missing_rows, name="set_editor_missing"),
    path(S + "editor/tests", editor_tests.tests_view, name="set_editor_tests"),
    path(S + "editor/use-case", editor_tests.use_case, name="set_editor_use_case"),
    path(S + "v/<str:label>/", versions.detail, name="version"),
    path(S + "v/<str:label>/delete", versions.delete, name="version_delete"),
    path(S + "v/<str:label>/approve", versions.approve, name="version_approve"),
    # prompts
    path(T, prompts.editor, name="prompt"),
    path(T + "delete", prompts.delete, name="prompt_delete"),
    path(T + "add-missing", prompt_sets.add_missing, name="prompt_add_missing"),
]
