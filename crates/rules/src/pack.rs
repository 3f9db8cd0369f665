//! The shipped rule pack, built into the program so a new installation starts with it.

use std::path::Path;

/// (path within the rules folder, text) of every shipped rule and its test.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "abandon_spike.rhai",
        include_str!("../../../rules/abandon_spike.rhai"),
    ),
    (
        "long_wait.rhai",
        include_str!("../../../rules/long_wait.rhai"),
    ),
    (
        "no_ready.rhai",
        include_str!("../../../rules/no_ready.rhai"),
    ),
    (
        "queue_growth.rhai",
        include_str!("../../../rules/queue_growth.rhai"),
    ),
    (
        "service_level.rhai",
        include_str!("../../../rules/service_level.rhai"),
    ),
    (
        "stuck_agents.rhai",
        include_str!("../../../rules/stuck_agents.rhai"),
    ),
    (
        "unavailable.rhai",
        include_str!("../../../rules/unavailable.rhai"),
    ),
    (
        "urgent_chat.rhai",
        include_str!("../../../rules/urgent_chat.rhai"),
    ),
    (
        "tests/abandon_spike.toml",
        include_str!("../../../rules/tests/abandon_spike.toml"),
    ),
    (
        "tests/long_wait.toml",
        include_str!("../../../rules/tests/long_wait.toml"),
    ),
    (
        "tests/no_ready.toml",
        include_str!("../../../rules/tests/no_ready.toml"),
    ),
    (
        "tests/queue_growth.toml",
        include_str!("../../../rules/tests/queue_growth.toml"),
    ),
    (
        "tests/service_level.toml",
        include_str!("../../../rules/tests/service_level.toml"),
    ),
    (
        "tests/stuck_agents.toml",
        include_str!("../../../rules/tests/stuck_agents.toml"),
    ),
    (
        "tests/unavailable.toml",
        include_str!("../../../rules/tests/unavailable.toml"),
    ),
    (
        "tests/urgent_chat.toml",
        include_str!("../../../rules/tests/urgent_chat.toml"),
    ),
];

/// Write the shipped pack into `dir` (created if needed). Files already there are left alone,
/// so a person's edits are never overwritten. Returns how many files were written.
pub fn install(dir: &Path) -> std::io::Result<usize> {
    let mut written = 0;
    for (name, text) in SHIPPED {
        let path = dir.join(name);
        if path.exists() {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)?;
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pack_installs_without_overwriting_edits() {
        let dir = std::env::temp_dir().join(format!("lookout-pack-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("no_ready.rhai"), "// mine").unwrap();
        let n = install(&dir).unwrap();
        assert_eq!(n, SHIPPED.len() - 1);
        assert_eq!(
            std::fs::read_to_string(dir.join("no_ready.rhai")).unwrap(),
            "// mine"
        );
        assert!(dir.join("tests/urgent_chat.toml").exists());
        assert_eq!(install(&dir).unwrap(), 0);
    }

    #[test]
    fn every_file_of_the_rules_folder_is_in_the_pack() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
        for sub in ["", "tests"] {
            for e in std::fs::read_dir(root.join(sub)).unwrap().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if e.path().is_file() {
                    let rel = if sub.is_empty() {
                        name
                    } else {
                        format!("{sub}/{name}")
                    };
                    assert!(
                        SHIPPED.iter().any(|(n, _)| *n == rel),
                        "{rel} is not in the pack"
                    );
                }
            }
        }
    }
}
