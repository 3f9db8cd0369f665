fn main() {
    // Each app command gets a permission (`allow-<command>`), and each window's capability
    // grants only the ones that window uses (capabilities/*.json).
    let commands = &[
        "overview",
        "acknowledge",
        "snooze",
        "open_runbook",
        "run_rule_tests",
        "agents",
        "open_wallboard",
        "close_wallboard",
        "overview_size",
        "set_overview_size",
        "settings_load",
        "settings_save",
        "settings_test",
        "settings_keep_for_session",
        "start_demo",
        "open_settings",
        "test_notification",
    ];
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(commands)),
    )
    .expect("the Tauri build step failed");
}
