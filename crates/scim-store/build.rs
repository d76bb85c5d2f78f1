//! Generates `store_contract_tests!` from the contract case files (`src/contract/<capability>.rs`):
//! every `pub async fn` at the start of a line there is a case, and becomes a `#[test]` in a
//! module named after its capability. A case added to a file, or a new capability file, runs on
//! every backend without a list to keep by hand.

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

fn main() {
    let dir = Path::new("src/contract");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut capabilities: Vec<(String, Vec<String>)> = Vec::new();
    let entries = fs::read_dir(dir).expect("src/contract exists");
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_none_or(|e| e != "rs") || stem == "mod" {
            continue;
        }
        println!("cargo:rerun-if-changed={}", path.display());
        let text = fs::read_to_string(&path).expect("a readable case file");
        let cases: Vec<String> = text
            .lines()
            .filter_map(|line| line.strip_prefix("pub async fn "))
            .map(|rest| {
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect()
            })
            .collect();
        assert!(!cases.is_empty(), "{} defines no contract case", path.display());
        capabilities.push((stem.to_string(), cases));
    }
    capabilities.sort();

    let mut out = String::from(
        "/// Expands to one `#[test]` per contract case, in a module per capability, each running\n\
         /// the case against a fresh store built by the given expression (which may use `.await`).\n\
         #[macro_export]\n\
         macro_rules! store_contract_tests {\n    ($make:expr) => {\n",
    );
    for (capability, cases) in &capabilities {
        writeln!(out, "        mod {capability} {{").ok();
        writeln!(
            out,
            "            #[allow(unused_imports)]\n            use super::*;"
        )
        .ok();
        for case in cases {
            writeln!(
                out,
                "            #[test]\n            fn {case}() {{\n                \
                 $crate::contract::run(async {{ $make }}, $crate::contract::{capability}::{case});\n            }}"
            )
            .ok();
        }
        writeln!(out, "        }}").ok();
    }
    out.push_str("    };\n}\n");
    let target = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("contract_cases.rs");
    fs::write(target, out).expect("OUT_DIR is writable");
}
