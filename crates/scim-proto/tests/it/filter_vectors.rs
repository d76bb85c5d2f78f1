//! Table-driven tests of `scim_proto::filter`, read from `tests/vectors/filter/*.json`: adding a
//! case means adding a line of data. Each file's `description` says what its cases mean.

// Tests may unwrap: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use scim_proto::filter::{MAX_FILTER_DEPTH, MAX_FILTER_LEN};
use scim_proto::schema::Schema;
use scim_proto::{AttrPath, Filter, PatchPath, SchemaRegistry, ScimType};
use serde_json::{Map, Value};

/// Reads `tests/vectors/filter/<name>`.
fn vectors(name: &str) -> Value {
    crate::common::vector(&format!("filter/{name}"))
}

fn cases(file: &Value) -> &Vec<Value> {
    file["cases"].as_array().expect("a `cases` array")
}

fn str_field<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("case lacks string `{key}`: {case}"))
}

/// The standard registry plus the custom extension of `fixtures.json` (integer, decimal, simple
/// multi-valued, dateTime, boolean and binary attributes, which the standard schemas lack).
fn registry() -> SchemaRegistry {
    let fixtures = vectors("fixtures.json");
    let mut reg = SchemaRegistry::standard();
    let ext = Schema::from_json(fixtures["extension"].clone()).expect("extension schema");
    reg.add_extension("User", ext, false).expect("add extension");
    reg
}

#[test]
fn parse_vectors() {
    let file = vectors("parse.json");
    let mut failures = Vec::new();
    for case in cases(&file) {
        let input = str_field(case, "input");
        let result = Filter::parse(input);
        match (
            case.get("printed").and_then(Value::as_str),
            case.get("error").and_then(Value::as_str),
            result,
        ) {
            (Some(expected), _, Ok(filter)) => {
                let printed = filter.to_string();
                if printed != expected {
                    failures.push(format!("{input:?}: printed {printed:?}, expected {expected:?}"));
                    continue;
                }
                match Filter::parse(&printed) {
                    Ok(again) if again == filter => {}
                    other => failures.push(format!(
                        "{input:?}: printed form {printed:?} re-parses to {other:?}"
                    )),
                }
            }
            (Some(_), _, Err(e)) => failures.push(format!("{input:?}: unexpected error {e}")),
            (None, Some(expected), Err(e)) => {
                if e.status != 400 || e.scim_type != Some(ScimType::InvalidFilter) {
                    failures.push(format!("{input:?}: wrong error kind {e}"));
                } else if !e.detail.contains(expected) {
                    failures.push(format!("{input:?}: error {:?} lacks {expected:?}", e.detail));
                }
            }
            (None, Some(_), Ok(f)) => failures.push(format!("{input:?}: parsed as {f} but should fail")),
            (None, None, _) => failures.push(format!("{input:?}: case has neither `printed` nor `error`")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The fixture resources of one resource type, by fixture name.
fn fixtures_of(kind: &str) -> Vec<(String, Map<String, Value>)> {
    let fixtures = vectors("fixtures.json");
    fixtures["resources"][kind]
        .as_object()
        .expect("resources by type")
        .iter()
        .map(|(name, r)| (name.clone(), r.as_object().expect("resource object").clone()))
        .collect()
}

#[test]
fn eval_vectors() {
    let reg = registry();
    let file = vectors("eval.json");
    let mut failures = Vec::new();
    let mut count = 0;
    for case in cases(&file) {
        let kind = case["type"].as_str().unwrap_or("User");
        let schema = reg.view(kind).expect("resource type");
        let input = str_field(case, "filter");
        let filter = match Filter::parse(input) {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!("{input:?}: does not parse: {e}"));
                continue;
            }
        };
        // Cases marked `"validate": false` evaluate filters that `validate` rejects: they
        // must still evaluate (never match, never panic).
        let must_validate = case.get("validate").and_then(Value::as_bool).unwrap_or(true);
        match (filter.validate(&schema), must_validate) {
            (Err(e), true) => {
                failures.push(format!("{input:?}: does not validate: {e}"));
                continue;
            }
            (Ok(()), false) => failures.push(format!("{input:?}: validates; drop `validate: false`")),
            _ => {}
        }
        let expected: Vec<&str> = case["match"]
            .as_array()
            .unwrap_or_else(|| panic!("case lacks `match`: {case}"))
            .iter()
            .map(|v| v.as_str().expect("fixture name"))
            .collect();
        for (name, resource) in fixtures_of(kind) {
            count += 1;
            let got = filter.matches(&resource, &schema);
            let want = expected.contains(&name.as_str());
            if got != want {
                failures.push(format!(
                    "{kind} {input:?} on {name}: matched {got}, expected {want}"
                ));
            }
            // The printed form evaluates the same.
            let reparsed = Filter::parse(&filter.to_string()).expect("printed form parses");
            if reparsed.matches(&resource, &schema) != got {
                failures.push(format!("{input:?}: printed form evaluates differently on {name}"));
            }
        }
        for name in &expected {
            if !fixtures_of(kind).iter().any(|(n, _)| n == name) {
                failures.push(format!("{input:?}: no {kind} fixture named {name}"));
            }
        }
    }
    assert!(count > 0);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn validate_vectors() {
    let reg = registry();
    let file = vectors("validate.json");
    let mut failures = Vec::new();
    for case in cases(&file) {
        let kind = case["type"].as_str().unwrap_or("User");
        let schema = reg.view(kind).expect("resource type");
        let input = str_field(case, "filter");
        let filter = match Filter::parse(input) {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!("{input:?}: does not parse: {e}"));
                continue;
            }
        };
        let result = filter.validate(&schema);
        match (case.get("error").and_then(Value::as_str), result) {
            (None, Ok(())) => {}
            (None, Err(e)) => failures.push(format!("{kind} {input:?}: unexpected error {e}")),
            (Some(expected), Err(e)) => {
                if e.status != 400 || e.scim_type != Some(ScimType::InvalidFilter) {
                    failures.push(format!("{input:?}: wrong error kind {e}"));
                } else if !e.detail.contains(expected) {
                    failures.push(format!("{input:?}: error {:?} lacks {expected:?}", e.detail));
                }
            }
            (Some(_), Ok(())) => failures.push(format!("{kind} {input:?}: validates but should not")),
        }
        // Whatever validate says, evaluation never panics.
        for (_, resource) in fixtures_of(kind) {
            let _ = filter.matches(&resource, &schema);
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn equality_lookup_vectors() {
    let reg = registry();
    let file = vectors("lookups.json");
    let mut failures = Vec::new();
    for case in cases(&file) {
        let kind = case["type"].as_str().unwrap_or("User");
        let schema = reg.view(kind).expect("resource type");
        let input = str_field(case, "filter");
        let filter = Filter::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        let got = filter.equality_lookups(&schema);
        let want: Vec<(String, String)> =
            serde_json::from_value(case["lookups"].clone()).expect("`lookups` is [[path, value], ...]");
        if got != want {
            failures.push(format!("{kind} {input:?}: got {got:?}, expected {want:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn patch_path_vectors() {
    let file = vectors("patch_paths.json");
    let mut failures = Vec::new();
    for case in cases(&file) {
        let input = str_field(case, "input");
        match (case.get("error").and_then(Value::as_str), PatchPath::parse(input)) {
            (None, Ok(p)) => {
                let want_attr = AttrPath {
                    urn: case.get("urn").and_then(Value::as_str).map(str::to_string),
                    attr: str_field(case, "attr").to_string(),
                    sub: case.get("sub").and_then(Value::as_str).map(str::to_string),
                };
                if p.attr != want_attr {
                    failures.push(format!("{input:?}: attr {:?}, expected {want_attr:?}", p.attr));
                }
                let filter = p.filter.as_ref().map(ToString::to_string);
                let want_filter = case.get("filter").and_then(Value::as_str).map(str::to_string);
                if filter != want_filter {
                    failures.push(format!("{input:?}: filter {filter:?}, expected {want_filter:?}"));
                }
                let want_after = case
                    .get("subAfterFilter")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if p.sub_after_filter != want_after {
                    failures.push(format!(
                        "{input:?}: sub_after_filter {:?}, expected {want_after:?}",
                        p.sub_after_filter
                    ));
                }
            }
            (None, Err(e)) => failures.push(format!("{input:?}: unexpected error {e}")),
            (Some(expected), Err(e)) => {
                if e.status != 400 || e.scim_type != Some(ScimType::InvalidPath) {
                    failures.push(format!("{input:?}: wrong error kind {e}"));
                } else if !e.detail.contains(expected) {
                    failures.push(format!("{input:?}: error {:?} lacks {expected:?}", e.detail));
                }
            }
            (Some(_), Ok(p)) => failures.push(format!("{input:?}: parsed as {p:?} but should fail")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `matches_value` and `validate_value_filter`: what the PATCH engine uses on
/// `emails[type eq "work"]` element by element.
#[test]
fn value_filters_apply_to_single_elements() {
    let reg = registry();
    let user = reg.user();
    let p = PatchPath::parse("emails[type eq \"work\" and primary eq \"True\"].value").unwrap();
    let emails = user.resolve(&p.attr).unwrap();
    let filter = p.filter.unwrap();
    filter.validate_value_filter(&user, &emails).unwrap();
    let work = serde_json::json!({"value": "a@x.com", "type": "Work", "primary": true});
    let home = serde_json::json!({"value": "b@x.com", "type": "home", "primary": true});
    assert!(filter.matches_value(&user, &emails, &work));
    assert!(!filter.matches_value(&user, &emails, &home));
    assert!(!filter.matches_value(&user, &emails, &Value::Null));

    let p = PatchPath::parse("members[value eq \"2819c223\"]").unwrap();
    let group = reg.group();
    let members = group.resolve(&p.attr).unwrap();
    let filter = p.filter.unwrap();
    filter.validate_value_filter(&group, &members).unwrap();
    assert!(filter.matches_value(&group, &members, &serde_json::json!({"value": "2819c223"})));
    // RFC 7643 §8.7.1 declares members.value caseExact false.
    assert!(filter.matches_value(&group, &members, &serde_json::json!({"value": "2819C223"})));
    assert!(!filter.matches_value(&group, &members, &serde_json::json!({"value": "2819c224"})));
    assert!(!filter.matches_value(&group, &members, &serde_json::json!({"display": "2819c223"})));

    let bad = PatchPath::parse("emails[nope eq \"x\"]").unwrap();
    let e = bad
        .filter
        .unwrap()
        .validate_value_filter(&user, &emails)
        .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
    assert!(
        e.detail
            .contains("sub-attributes are: value, display, type, primary"),
        "{}",
        e.detail
    );

    let name = user.resolve(&AttrPath::parse("userName").unwrap()).unwrap();
    let e = Filter::parse("value eq \"x\"")
        .unwrap()
        .validate_value_filter(&user, &name)
        .unwrap_err();
    assert!(
        e.detail.contains("neither multi-valued nor complex"),
        "{}",
        e.detail
    );
}

#[test]
fn length_limit() {
    let ok = format!("displayName eq \"{}\"", "x".repeat(MAX_FILTER_LEN - 17));
    assert_eq!(ok.len(), MAX_FILTER_LEN);
    assert!(Filter::parse(&ok).is_ok());
    let long = format!("displayName eq \"{}\"", "x".repeat(MAX_FILTER_LEN - 16));
    let e = Filter::parse(&long).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
    assert!(e.detail.contains("limit is 4096"), "{}", e.detail);
    let e = PatchPath::parse(&format!("emails[value eq \"{}\"]", "x".repeat(MAX_FILTER_LEN))).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
}

#[test]
fn depth_limit() {
    let nested = |open: &str, n: usize| format!("{}a pr{}", open.repeat(n), ")".repeat(n));
    for open in ["(", "not (", "not(", "NOT ("] {
        let ok = nested(open, MAX_FILTER_DEPTH);
        assert!(Filter::parse(&ok).is_ok(), "{open} x {MAX_FILTER_DEPTH}");
        let e = Filter::parse(&nested(open, MAX_FILTER_DEPTH + 1)).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        assert!(e.detail.contains("nests deeper than 32"), "{}", e.detail);
    }
    // A value path counts as a level.
    let ok = format!(
        "{}emails[type pr]{}",
        "(".repeat(MAX_FILTER_DEPTH - 1),
        ")".repeat(MAX_FILTER_DEPTH - 1)
    );
    assert!(Filter::parse(&ok).is_ok());
    let deep = format!(
        "{}emails[type pr]{}",
        "(".repeat(MAX_FILTER_DEPTH),
        ")".repeat(MAX_FILTER_DEPTH)
    );
    assert!(Filter::parse(&deep).is_err());
    // Far more nesting than the stack could take is refused, not a crash.
    let huge = "(".repeat(MAX_FILTER_LEN);
    assert!(Filter::parse(&huge).is_err());
    assert!(PatchPath::parse(&format!("emails[{}", "(".repeat(MAX_FILTER_LEN - 8))).is_err());
}

/// The longest `and`/`or` chains the length limit allows are loops in the parser and shallow
/// enough in the tree for printing, validation and evaluation (run on a thread with a small
/// stack, as a Lambda worker might have).
#[test]
fn longest_chains_do_not_exhaust_the_stack() {
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(|| {
            let reg = registry();
            let user = reg.user();
            let resource = fixtures_of("User").remove(0).1;
            for joiner in [" and ", " or "] {
                let n = (MAX_FILTER_LEN + joiner.len()) / (8 + joiner.len());
                let input = vec!["title pr"; n].join(joiner);
                assert!(input.len() <= MAX_FILTER_LEN);
                let f = Filter::parse(&input).unwrap();
                assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
                f.validate(&user).unwrap();
                let _ = f.matches(&resource, &user);
                let _ = f.equality_lookups(&user);
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

/// Strings compare in Unicode NFC: a decomposed "josé" in a filter finds the composed one and
/// the other way round, with or without case folding.
#[test]
fn composed_and_decomposed_strings_match() {
    let reg = SchemaRegistry::standard();
    let user = reg.user();
    let composed = serde_json::json!({"userName": "Jos\u{e9}", "externalId": "jos\u{e9}"});
    let decomposed = serde_json::json!({"userName": "jose\u{301}", "externalId": "jose\u{301}"});
    for (stored, filter) in [
        (&composed, "userName eq \"jose\u{301}\""),
        (&composed, "externalId eq \"jose\u{301}\""),
        (&decomposed, "userName eq \"JOS\u{c9}\""),
        (&decomposed, "externalId sw \"jos\u{e9}\""),
    ] {
        let f = Filter::parse(filter).unwrap();
        assert!(f.matches(stored.as_object().unwrap(), &user), "{filter}");
    }
}
