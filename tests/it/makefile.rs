//! The repository's Makefile as a newcomer meets it: `make help` first.

/// Every target is listed with its description in one aligned column, the longest name
/// included.
#[test]
fn make_help_aligns_every_description() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = std::process::Command::new("make")
        .args(["-s", "help"])
        .current_dir(&root)
        .output()
        .expect("make runs");
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8(output.stdout).expect("UTF-8");
    let columns: Vec<usize> = help
        .lines()
        .map(|line| {
            let rest = line.strip_prefix("  make ").unwrap_or_else(|| panic!("{line:?}"));
            let name = rest.split(' ').next().unwrap_or_default();
            assert!(
                rest[name.len()..].starts_with("  "),
                "no gap after the target name: {line:?}"
            );
            line.len() - rest[name.len()..].trim_start().len()
        })
        .collect();
    assert!(columns.len() > 5, "{help}");
    assert!(columns.windows(2).all(|w| w[0] == w[1]), "{help}");
}
