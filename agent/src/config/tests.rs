use super::*;

fn load(args: &[&str]) -> Result<Config, ConfigError> {
    let all = std::iter::once("microdash-agent").chain(args.iter().copied()).map(String::from);
    Config::load(all)
}

#[test]
fn defaults_are_ten_seconds_all_collectors_and_the_host_name() {
    let c = load(&["--tenant", "acme"]).unwrap();
    assert_eq!(c.interval.0, Duration::from_secs(10));
    assert_eq!(c.collectors, CollectorKind::ALL.to_vec());
    assert!(!c.agent_id().is_empty());
    assert_eq!(c.spool_max_bytes, 100 * 1024 * 1024);
}

#[test]
fn intervals_below_one_second_are_refused_with_the_option_named() {
    let e = load(&["--tenant", "acme", "--interval", "500ms"]).unwrap_err();
    assert!(e.to_string().contains("--interval"), "{e}");
}

#[test]
fn a_tenant_is_required_only_when_publishing() {
    assert!(load(&[]).unwrap_err().to_string().contains("--tenant"));
    assert!(load(&["--stdout"]).is_ok());
}

#[test]
fn the_file_fills_what_flags_leave_unset_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(
        &path,
        "tenant = \"acme\"\nagent_id = \"from-file\"\ninterval = \"30s\"\ncollectors = [\"cpu\", \"net\"]\n\
         token = \"s3cret\"\n[tags]\nsite = \"ams\"\n",
    )
    .unwrap();
    let c = load(&["--config", path.to_str().unwrap(), "--agent-id", "from-flag"]).unwrap();
    assert_eq!(c.tenant.as_deref(), Some("acme"));
    assert_eq!(c.agent_id(), "from-flag");
    assert_eq!(c.interval.0, Duration::from_secs(30));
    assert_eq!(c.collectors, vec![CollectorKind::Cpu, CollectorKind::Net]);
    assert_eq!(c.static_tags().get("site").map(String::as_str), Some("ams"));
    assert_eq!(format!("{:?}", c.token), "Some([redacted])");
}

#[test]
fn unknown_keys_in_the_file_are_errors_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, "tennant = \"acme\"\n").unwrap();
    let e = load(&["--config", path.to_str().unwrap()]).unwrap_err();
    assert!(e.to_string().contains("tennant"), "{e}");
}

#[test]
fn tags_and_agent_ids_are_checked_with_the_servers_rules() {
    assert!(load(&["--stdout", "--agent-id", "bad/id"]).is_err());
    let c = load(&["--stdout", "--tag", "site=ams", "--tag", "rack=r1"]).unwrap();
    assert_eq!(c.static_tags().len(), 2);
}
