//! The command line as a script sees it: help, usage errors, exit codes. (Building this
//! test also makes `cargo test` build the `host` binary the end-to-end tests run.)

use std::process::Command;

fn host(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_host"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_lists_the_commands_and_the_exit_codes() {
    let (code, out, _) = host(&["--help"]);
    assert_eq!(code, Some(0));
    for expected in [
        "backup",
        "restore",
        "run",
        "inspect",
        "verify",
        "resume",
        "--kubeconfig",
        "--context",
        "--namespace",
        "Exit codes",
    ] {
        assert!(
            out.contains(expected),
            "`{expected}` missing from --help:\n{out}"
        );
    }
    let (code, out, _) = host(&["run", "--help"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("--plugin") && out.contains("--backup-dir"),
        "{out}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, err) = host(&["run", "restore"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--plugin"), "{err}");
    let (code, _, err) = host(&["explode"]);
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn a_missing_plugin_is_one_line_and_exit_2() {
    let (code, out, err) = host(&["inspect", "/nonexistent/zync.wasm"]);
    assert_eq!(code, Some(2));
    assert!(out.is_empty());
    assert_eq!(err.trim(), "error: /nonexistent/zync.wasm: no such file");
    // A run is refused the same way before any cluster is contacted.
    let (code, _, err) = host(&[
        "run",
        "backup",
        "--plugin",
        "/nonexistent/zync.wasm",
        "--kubeconfig",
        "/nonexistent/kubeconfig",
    ]);
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn verify_refuses_a_missing_set_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = host(&[
        "verify",
        "--plugins",
        dir.path().to_str().unwrap(),
        "--backup-dir",
        "/nonexistent/set",
    ]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("/nonexistent/set"), "{err}");
}

#[test]
fn without_plugins_the_sets_are_looked_for_in_the_data_home() {
    let (code, out, _) = host(&["restore", "--help"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("$XDG_DATA_HOME/host/plugins"), "{out}");
    assert!(out.contains("~/.local/share/host/plugins"), "{out}");
    let data = tempfile::tempdir().unwrap();
    for (var, value, expected) in [
        (
            "XDG_DATA_HOME",
            data.path().to_path_buf(),
            data.path().join("host/plugins"),
        ),
        // A relative XDG_DATA_HOME is invalid (XDG Base Directory): HOME's default.
        (
            "XDG_DATA_HOME",
            "relative".into(),
            "/nowhere/.local/share/host/plugins".into(),
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_host"))
            .args(["backup", "--kubeconfig", "/nonexistent/kubeconfig"])
            .env(var, &value)
            .env("HOME", "/nowhere")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(
            err.trim(),
            format!("error: {}: no such plugin directory", expected.display())
        );
    }
}

#[test]
fn plugin_commands_are_listed_and_require_signed_reads_the_environment() {
    let (code, out, _) = host(&["plugin", "--help"]);
    assert_eq!(code, Some(0));
    for expected in ["push", "pull", "sign", "verify", "new"] {
        assert!(out.contains(expected), "`{expected}` missing:\n{out}");
    }
    let (_, out, _) = host(&["backup", "--help"]);
    assert!(
        out.contains("--require-signed") && out.contains("HOST_REQUIRE_SIGNED"),
        "{out}"
    );
    // A key that cannot be read is named, before any plugin is looked at.
    let (code, _, err) = host(&[
        "plugin",
        "verify",
        "--key",
        "/nonexistent/k.pub",
        "/nonexistent/zync.wasm",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("/nonexistent/k.pub"), "{err}");
}

#[test]
fn every_command_has_examples_and_the_exit_codes_name_the_cluster_and_resume() {
    let (_, out, _) = host(&["--help"]);
    for expected in ["list", "describe", "prune", "--output", "--state-dir"] {
        assert!(out.contains(expected), "`{expected}` missing:\n{out}");
    }
    assert!(out.contains("5  could not reach the cluster"), "{out}");
    assert!(out.contains("6  `host resume`"), "{out}");
    for command in [
        "backup",
        "restore",
        "resume",
        "verify",
        "list",
        "describe",
        "prune",
        "inspect",
        "seal",
        "key",
        "run",
        "rbac",
        "cronjob",
        "completion",
        "man",
        "plugin",
    ] {
        let (code, out, _) = host(&[command, "--help"]);
        assert_eq!(code, Some(0), "{command}");
        assert!(
            out.contains("Examples:\n  host "),
            "no examples in `host {command} --help`:\n{out}"
        );
    }
}

#[test]
fn sizes_and_durations_take_units() {
    // Parsed before anything else is looked at: a bad one is a usage error (exit 2).
    for (flag, bad) in [
        ("--hook-timeout", "15x"),
        ("--idle-timeout", "1.5h"),
        ("--plugin-memory", "256MB"),
        ("--max-set-size", "lots"),
    ] {
        let (code, _, err) = host(&["backup", flag, bad]);
        assert_eq!(code, Some(2), "{flag} {bad}: {err}");
        assert!(err.contains(bad), "{err}");
    }
    let (code, _, err) = host(&["prune", "--repo", "/nonexistent", "--keep-within", "30d"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not a backup repository"), "{err}");
    let (code, _, err) = host(&["prune", "--repo", "/nonexistent"]);
    assert_eq!(code, Some(2), "a prune without a rule is refused: {err}");
}

#[test]
fn an_error_is_a_document_for_scripts() {
    let (code, out, err) = host(&["list", "--repo", "/nonexistent", "-o", "json"]);
    assert_eq!(code, Some(2), "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["kind"], "Error");
    assert_eq!(doc["exitCode"], 2);
    assert!(err.contains("not a backup repository"), "{err}");
}

#[test]
fn completions_load_in_bash_and_the_man_pages_cover_every_command() {
    let (code, script, err) = host(&["completion", "bash"]);
    assert_eq!(code, Some(0), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("host.bash");
    std::fs::write(&file, &script).unwrap();
    // The script bash sources, asked what it completes after `host ba`.
    let probe = format!(
        "source {}; COMP_WORDS=(host ba); COMP_CWORD=1; COMP_LINE='host ba'; COMP_POINT=7; _host host ba host; echo \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "backup");
    let (code, _, err) = host(&["completion", "tcsh"]);
    assert_eq!(code, Some(2), "an unknown shell is a usage error: {err}");

    let (code, page, _) = host(&["man"]);
    assert_eq!(code, Some(0));
    assert!(page.contains(".TH host 1"), "{page}");
    let pages = dir.path().join("man1");
    let (code, _, err) = host(&["man", "--out", pages.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    for command in [
        "host.1",
        "host-backup.1",
        "host-restore.1",
        "host-rbac.1",
        "host-key-new.1",
    ] {
        let text = std::fs::read_to_string(pages.join(command)).unwrap();
        assert!(text.contains(".SH NAME"), "{command}");
    }
}

#[test]
fn the_cronjob_backs_up_first_then_prunes_under_the_service_account() {
    let (code, out, err) = host(&[
        "cronjob",
        "-n",
        "3scale",
        "--image",
        "registry.example.com/host:0.1",
        "--claim",
        "host-backups",
        "--keep",
        "14",
        "-o",
        "json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let cronjob = &list["items"][0];
    assert_eq!(cronjob["kind"], "CronJob");
    assert_eq!(cronjob["spec"]["concurrencyPolicy"], "Forbid");
    let pod = &cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "host");
    let backup = pod["initContainers"][0]["command"].as_array().unwrap();
    assert_eq!(backup[..3], ["host", "backup", "--repo"]);
    assert!(backup.iter().any(|a| a == "3scale"), "{backup:?}");
    let prune = pod["containers"][0]["command"].as_array().unwrap();
    assert_eq!(prune[..2], ["host", "prune"]);
    assert!(prune.iter().any(|a| a == "14"), "{prune:?}");
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "host-backups"
    );
    assert_eq!(
        pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
        true
    );
    // Encrypted nightly sets: the public key goes into the job; a bad one fails now.
    let key = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    let (code, out, err) = host(&[
        "cronjob",
        "-n",
        "3scale",
        "--image",
        "i",
        "--claim",
        "c",
        "--recipient",
        key,
        "-o",
        "json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    // Without --keep, the backup is the job's one container.
    let backup = list["items"][0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        [0]["command"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        backup
            .windows(2)
            .any(|w| w[0] == "--recipient" && w[1] == key),
        "{backup:?}"
    );
    let (code, _, err) = host(&[
        "cronjob",
        "-n",
        "3scale",
        "--image",
        "i",
        "--claim",
        "c",
        "--recipient",
        "age1nope",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not an age recipient"), "{err}");
    // Into S3: no claim mounted, the keys from a Secret, the prune on the same URL.
    let (code, out, err) = host(&[
        "cronjob",
        "-n",
        "3scale",
        "--image",
        "i",
        "--repo",
        "s3://backups/3scale",
        "--s3-secret",
        "host-s3",
        "--keep",
        "7",
        "-o",
        "json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let pod = &list["items"][0]["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    for c in [&pod["initContainers"][0], &pod["containers"][0]] {
        let command = c["command"].as_array().unwrap();
        assert!(
            command
                .windows(2)
                .any(|w| w[0] == "--repo" && w[1] == "s3://backups/3scale"),
            "{command:?}"
        );
        assert_eq!(c["envFrom"][0]["secretRef"]["name"], "host-s3");
        assert!(
            !c["volumeMounts"].to_string().contains("repository"),
            "{c:#}"
        );
    }
    assert!(!pod["volumes"].to_string().contains("persistentVolumeClaim"));
    for bad in [
        &["--repo", "s3://"][..],
        &["--claim", "c", "--repo", "s3://b/p"],
        &["--s3-secret", "x", "--claim", "c"],
        &[],
    ] {
        let mut args = vec!["cronjob", "-n", "3scale", "--image", "i"];
        args.extend_from_slice(bad);
        let (code, _, err) = host(&args);
        assert_eq!(code, Some(2), "{bad:?}: {err}");
    }
    // Without a namespace (no -n, no kubeconfig context naming one) it says so.
    let (code, _, err) = host(&[
        "--kubeconfig",
        "/nonexistent",
        "cronjob",
        "--image",
        "i",
        "--claim",
        "c",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("give -n NS"), "{err}");
}

#[test]
fn a_single_plugin_run_records_its_result_in_the_metrics_file_too() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("host.prom");
    let (code, _, err) = host(&[
        "-n",
        "3scale",
        "run",
        "backup",
        "--plugin",
        "/nonexistent/zync.wasm",
        "--metrics-file",
        metrics.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        text.contains("host_last_run_exit_code{kind=\"backup\",namespace=\"3scale\"} 2"),
        "{text}"
    );
}
