//! `docker-compose.yml` and the `Dockerfile` cannot be run here (no Docker engine), so they are
//! checked by reading: every microdash service's command must be a command line the binary
//! accepts, its environment variables must be ones it reads, its health check must probe the
//! port it listens on, and what it depends on must exist.

use std::collections::BTreeMap;
use std::path::Path;

use clap::{CommandFactory, Parser};
use microdash::cli::Cli;
use yaml_rust2::{Yaml, YamlLoader};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root")
}

fn compose() -> Yaml {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).expect("docker-compose.yml exists");
    YamlLoader::load_from_str(&text).expect("valid YAML").remove(0)
}

/// A mapping with its `<<` merge keys applied (compose applies them; the parser does not).
fn merged(node: &Yaml) -> BTreeMap<String, Yaml> {
    let mut out = BTreeMap::new();
    let Yaml::Hash(hash) = node else { return out };
    if let Some(base) = hash.get(&Yaml::String("<<".into())) {
        out.extend(merged(base));
    }
    for (k, v) in hash {
        if let Some(k) = k.as_str().filter(|k| *k != "<<") {
            let v = match (out.get(k), v) {
                (Some(Yaml::Hash(_)), Yaml::Hash(_)) if k == "environment" => {
                    let mut env = merged(&out[k]);
                    env.extend(merged(v));
                    Yaml::Hash(env.into_iter().map(|(k, v)| (Yaml::String(k), v)).collect())
                }
                _ => v.clone(),
            };
            out.insert(k.to_string(), v);
        }
    }
    out
}

fn strings(node: &Yaml) -> Vec<String> {
    node.as_vec()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| format!("{v:?}")))
        .collect()
}

/// The services that run the microdash image, with their merged definitions.
fn microdash_services() -> BTreeMap<String, BTreeMap<String, Yaml>> {
    let doc = compose();
    let services = merged(&doc["services"]);
    services
        .into_iter()
        .map(|(name, def)| (name, merged(&def)))
        .filter(|(_, def)| {
            def.get("image").and_then(Yaml::as_str).is_some_and(|i| i.starts_with("microdash"))
        })
        .collect()
}

#[test]
fn every_microdash_service_runs_a_command_line_the_binary_accepts() {
    let services = microdash_services();
    for role in ["api", "worker", "scheduler", "migrate"] {
        assert!(services.contains_key(role), "the compose file runs a `{role}` service");
    }
    for (name, def) in &services {
        let command = strings(def.get("command").unwrap_or_else(|| panic!("service {name} has a command")));
        let argv = std::iter::once("microdash".to_string()).chain(command.iter().cloned());
        if let Err(e) = Cli::try_parse_from(argv) {
            panic!("service {name}: `microdash {}` is refused:\n{e}", command.join(" "));
        }
    }
}

#[test]
fn every_environment_variable_given_to_microdash_is_one_its_command_reads() {
    for (name, def) in microdash_services() {
        let command = strings(&def["command"]);
        let mut cli = Cli::command();
        let help = cli
            .find_subcommand_mut(&command[0])
            .unwrap_or_else(|| panic!("service {name}: no subcommand {}", command[0]))
            .render_long_help()
            .to_string();
        let global = Cli::command().render_long_help().to_string();
        for key in merged(&def["environment"]).keys() {
            // `[env: KEY=default]`, or `[env: KEY]` for a value hidden from `--help` (a secret).
            let reads = |text: &str| ["=", "]"].iter().any(|end| text.contains(&format!("env: {key}{end}")));
            assert!(
                reads(&help) || reads(&global),
                "service {name}: `microdash {}` does not read {key}",
                command[0]
            );
        }
    }
}

#[test]
fn health_checks_probe_the_port_each_service_listens_on() {
    for (name, def) in microdash_services() {
        let Some(check) = def.get("healthcheck") else {
            assert_eq!(name, "migrate", "every long-running service has a health check");
            continue;
        };
        let test = strings(&check["test"]).join(" ");
        let port = test
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("service {name}: health check {test:?} names no local port"));
        let command = strings(&def["command"]).join(" ");
        assert!(
            command.contains(&format!("0.0.0.0:{port}")),
            "service {name}: checks port {port} but `{command}` does not listen there"
        );
        assert!(test.contains("/readyz"), "service {name}: probes readiness");
    }
}

#[test]
fn services_depend_only_on_services_that_exist_and_the_roles_wait_for_their_dependencies() {
    let doc = compose();
    let all = merged(&doc["services"]);
    for (name, def) in microdash_services() {
        let deps =
            def.get("depends_on").unwrap_or_else(|| panic!("service {name} waits for its dependencies"));
        for dep in merged(deps).keys() {
            assert!(all.contains_key(dep), "service {name} depends on unknown service {dep}");
        }
        if name != "migrate" {
            let deps = merged(deps);
            for needed in ["mariadb", "redis", "migrate"] {
                assert!(deps.contains_key(needed), "service {name} waits for {needed}");
            }
            let env = merged(&def["environment"]);
            let db = env["MICRODASH_DATABASE_URL"].as_str().unwrap_or_default();
            assert!(
                db.starts_with("mysql://") && db.contains("@mariadb:"),
                "{name} uses the mariadb service"
            );
            let redis = env["MICRODASH_REDIS_URL"].as_str().unwrap_or_default();
            assert!(redis.starts_with("redis://redis:"), "{name} uses the redis service");
        }
    }
}

#[test]
fn the_image_runs_the_binary_and_its_default_command_parses() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile exists");
    assert!(dockerfile.contains(r#"ENTRYPOINT ["microdash"]"#));
    let cmd = dockerfile.lines().find_map(|l| l.strip_prefix("CMD ")).expect("a CMD line");
    let cmd: Vec<String> = serde_json::from_str(cmd).expect("CMD in exec form");
    Cli::try_parse_from(std::iter::once("microdash".to_string()).chain(cmd))
        .expect("the default command parses");
    let toolchain = std::fs::read_to_string(root().join("rust-toolchain.toml")).unwrap();
    let from = dockerfile.lines().find(|l| l.starts_with("FROM rust:")).expect("a Rust build stage");
    let channel = toolchain.split('"').nth(1).expect("a pinned channel");
    let minor: String = channel.split('.').take(2).collect::<Vec<_>>().join(".");
    assert!(
        from.contains(&format!("rust:{minor}")),
        "the build stage uses the pinned toolchain {channel}: {from}"
    );
}
