//! The daily-loop commands end to end: the built `solobase` binary run on temporary project
//! folders, checking output, files and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn solobase(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_solobase"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running solobase")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A fresh, empty folder in the system temp directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "solobase-cli-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn init_then_migration_new_then_list_then_status_work_on_a_new_project() {
    let dir = TempDir::new("loop");
    let init = solobase(&["init", "--workdir", dir.arg()]);
    assert!(init.status.success(), "{}", stderr(&init));
    let supabase = dir.path().join("supabase");
    assert!(supabase.join("config.toml").is_file());
    assert!(supabase.join("migrations").is_dir());
    assert!(supabase.join("seed.sql").is_file());
    let config = std::fs::read_to_string(supabase.join("config.toml")).unwrap();
    assert!(config.contains("[api]\nenabled = true\n"));
    assert!(config.contains("port = 54321"));

    let empty = solobase(&["migration", "list", "--workdir", dir.arg()]);
    assert!(empty.status.success(), "{}", stderr(&empty));
    assert!(stdout(&empty).contains("No migrations yet"));

    let created = solobase(&["migration", "new", "create_todos", "--workdir", dir.arg()]);
    assert!(created.status.success(), "{}", stderr(&created));
    let files: Vec<String> = std::fs::read_dir(supabase.join("migrations"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files.len(), 1);
    let file = &files[0];
    let (version, name) = file.split_once('_').unwrap();
    assert_eq!(version.len(), 14);
    assert!(version.chars().all(|c| c.is_ascii_digit()));
    assert!(version.starts_with("20"));
    assert_eq!(name, "create_todos.sql");
    assert!(
        stdout(&created).contains(file.as_str()),
        "{}",
        stdout(&created)
    );

    let listed = solobase(&["migration", "list", "--workdir", dir.arg()]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let table = stdout(&listed);
    assert!(table.contains("Local"), "{table}");
    assert!(table.contains("Applied"), "{table}");
    let row = table.lines().find(|line| line.contains(version)).unwrap();
    assert!(row.contains("create_todos"), "{row}");
    assert_eq!(row.matches(version).count(), 1, "not applied yet: {row}");

    let status = solobase(&["status", "--workdir", dir.arg()]);
    assert!(status.status.success(), "{}", stderr(&status));
    let text = stdout(&status);
    assert!(text.contains("API URL: http://127.0.0.1:54321"), "{text}");
    assert!(text.contains("anon key: eyJ"), "{text}");
    assert!(text.contains("service_role key: eyJ"), "{text}");
    assert!(text.contains("Publishable key: sb_publishable_"), "{text}");
}

#[test]
fn init_refuses_to_overwrite_an_existing_project() {
    let dir = TempDir::new("init-twice");
    assert!(solobase(&["init", "--workdir", dir.arg()]).status.success());
    let config = dir.path().join("supabase/config.toml");
    std::fs::write(&config, "project_id = \"mine\"\n").unwrap();
    let again = solobase(&["init", "--workdir", dir.arg()]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "project_id = \"mine\"\n"
    );
}

#[test]
fn commands_in_a_folder_without_supabase_say_to_run_init() {
    let dir = TempDir::new("missing");
    for args in [
        vec!["status"],
        vec!["migration", "list"],
        vec!["migration", "new", "x"],
    ] {
        let mut args = args.clone();
        args.extend(["--workdir", dir.arg()]);
        let output = solobase(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let message = stderr(&output);
        assert!(
            message.contains("no supabase/ folder"),
            "{args:?}: {message}"
        );
        assert!(message.contains("solobase init"), "{args:?}: {message}");
    }
}

#[test]
fn a_wrong_flag_fails_with_usage_and_a_suggestion() {
    let output = solobase(&["status", "--wrokdir", "."]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("unexpected argument '--wrokdir'"),
        "{message}"
    );
    assert!(message.contains("--workdir"), "{message}");
    assert!(message.contains("Usage:"), "{message}");
}

#[test]
fn an_invalid_migration_name_is_refused() {
    let dir = TempDir::new("bad-name");
    assert!(solobase(&["init", "--workdir", dir.arg()]).status.success());
    let output = solobase(&["migration", "new", "../escape", "--workdir", dir.arg()]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("invalid migration name"));
    assert_eq!(
        std::fs::read_dir(dir.path().join("supabase/migrations"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn every_command_has_help_text() {
    for args in [
        vec!["--help"],
        vec!["init", "--help"],
        vec!["status", "--help"],
        vec!["migration", "--help"],
        vec!["migration", "new", "--help"],
        vec!["migration", "list", "--help"],
    ] {
        let output = solobase(&args);
        assert!(output.status.success(), "{args:?}");
        let help = stdout(&output);
        assert!(help.contains("Usage:"), "{args:?}: {help}");
    }
    let top = stdout(&solobase(&["--help"]));
    for command in ["start", "init", "status", "migration"] {
        assert!(top.contains(command), "{top}");
    }
}

/// Copies a folder tree (the example project) into `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn gen_types_for_the_example_project_matches_the_reviewed_snapshot() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop");
    let output = solobase(&[
        "gen",
        "types",
        "typescript",
        "--workdir",
        example.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let snapshot = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/typegen_fixture.ts"),
    )
    .unwrap();
    assert_eq!(stdout(&output), snapshot);
}

#[test]
fn db_reset_rebuilds_from_migrations_and_seed_and_list_shows_them_applied() {
    let project = TempDir::new("reset");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop"),
        project.path(),
    );
    let refused = solobase(&["db", "reset", "--workdir", project.arg()]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("--yes"), "{}", stderr(&refused));

    let reset = solobase(&["db", "reset", "--yes", "--workdir", project.arg()]);
    assert!(reset.status.success(), "{}", stderr(&reset));
    assert!(
        stderr(&reset).contains("Applying migration 20240101000000_shop.sql"),
        "{}",
        stderr(&reset)
    );
    assert!(
        stderr(&reset).contains("Seeding data"),
        "{}",
        stderr(&reset)
    );

    let list = solobase(&["migration", "list", "--workdir", project.arg()]);
    assert!(list.status.success(), "{}", stderr(&list));
    let table = stdout(&list);
    let row = table
        .lines()
        .find(|line| line.contains("20240101000000"))
        .expect("the migration is listed");
    assert_eq!(
        row.matches("20240101000000").count(),
        2,
        "local and applied: {table}"
    );
}

#[test]
fn gen_hooks_for_the_cart_example_matches_its_committed_data_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = TempDir::new("hooks");
    let output = solobase(&[
        "gen",
        "hooks",
        "--workdir",
        root.join("examples/cart").to_str().unwrap(),
        "--out",
        out.arg(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let names = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    let committed = root.join("examples/cart/lib/db");
    assert_eq!(
        names(out.path()),
        [
            "cart_items.ts",
            "database.ts",
            "products.ts",
            "runtime.ts",
            "wishlist_items.ts"
        ]
    );
    assert_eq!(names(out.path()), names(&committed));
    for name in names(&committed) {
        let generated = std::fs::read_to_string(out.path().join(&name)).unwrap();
        let reviewed = std::fs::read_to_string(committed.join(&name)).unwrap();
        assert!(
            generated == reviewed,
            "examples/cart/lib/db/{name} differs from what `solobase gen hooks` writes now: \
             review the change and regenerate it with \
             `solobase gen hooks --workdir examples/cart --out examples/cart/lib/db`"
        );
    }
}

#[test]
fn gen_hooks_refuses_a_missing_table_or_one_without_a_primary_key() {
    let dir = TempDir::new("hooks-refusal");
    let supabase = dir.path().join("supabase/migrations");
    std::fs::create_dir_all(&supabase).unwrap();
    std::fs::write(
        supabase.join("20260101000000_log.sql"),
        "create table public.log (line text);",
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = |table: &str| {
        solobase(&[
            "gen",
            "hooks",
            "--workdir",
            dir.arg(),
            "--table",
            table,
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let keyless = run("log");
    assert!(!keyless.status.success());
    assert!(
        stderr(&keyless).contains("public.log has no primary key"),
        "{}",
        stderr(&keyless)
    );
    let missing = run("nope");
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("no table public.nope"),
        "{}",
        stderr(&missing)
    );
    assert!(!out.exists(), "nothing was written");
}
