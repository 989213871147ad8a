//! The architecture, checked: each module of `blazer-runtime` and `blazer-cluster` refers only
//! to modules of lower layers (the diagram at the top of `blazer-runtime/src/lib.rs`), so the
//! crates have no import loops; and each unsafe invariant lives in one file.

use std::path::Path;

/// `(module path, layer)`: a module may use only modules of a strictly lower layer.
const RUNTIME: &[(&str, u32)] = &[
    ("error", 0),
    ("config", 0),
    ("task", 0),
    ("raw", 0),
    ("os", 0),
    ("output", 0),
    ("gpu::test_support", 0),
    ("driver::pace", 0),
    ("sim::scenario", 0),
    ("report::html", 0),
    ("gpu::lock", 1),
    ("world", 1),
    ("identity", 1),
    ("checkpoint::log", 1),
    ("report::record", 1),
    ("checkpoint::session", 2),
    ("gpu::nvrtc", 2),
    ("sigterm", 2),
    ("wire::codec", 2),
    ("wire::traffic", 2),
    ("wire::transport", 3),
    ("wire::varint", 3),
    ("wire::data_op", 3),
    ("dist::part", 4),
    ("dist::exchange", 4),
    ("dist::kernel", 5),
    ("dist::run", 6),
    ("wire::payload", 4),
    ("wire::payload::args", 4),
    ("wire::payload::block", 4),
    ("wire::payload::flavor", 4),
    ("wire::payload::vectors", 4),
    ("wire::payload::wire_form", 4),
    ("wire::plan", 5),
    ("wire::message", 6),
    ("wire::outbox", 7),
    ("wire::heartbeat", 7),
    ("wire::link", 8),
    ("registry", 8),
    ("trace", 8),
    ("exec", 9),
    ("checkpoint::key", 9),
    ("driver::recovery", 9),
    ("driver::workers", 9),
    ("sim::network", 9),
    ("driver::load", 10),
    ("driver::silence", 10),
    ("driver::progress", 10),
    ("gpu::guard", 10),
    ("worker", 10),
    ("driver::queue", 11),
    ("driver::dispatch", 12),
    ("gpu::device", 12),
    ("api::combinators", 13),
    ("api::flow", 13),
    ("api::dataset", 13),
    ("checkpoint::resume", 13),
    ("api::stream", 14),
    ("api::primitives", 15),
    ("api::shared", 16),
    ("gpu::handle", 16),
    ("gpu_glue", 17),
    ("sim", 17),
    ("lifecycle", 18),
    ("private", 19),
];

const CLUSTER: &[(&str, u32)] = &[
    ("error", 0),
    ("check", 1),
    ("private_files", 1),
    ("quote", 1),
    ("process", 2),
    ("secret", 3),
    ("spec", 3),
    ("batch_system", 4),
    ("ssh", 5),
    ("stage", 5),
    ("watch", 5),
    ("job", 6),
    ("remote", 6),
];

/// The file of a module path under `src`.
fn file_of(src: &Path, module: &str) -> std::path::PathBuf {
    src.join(format!("{}.rs", module.replace("::", "/")))
}

/// What a file refers to as `crate::...`.
#[derive(Debug, Default)]
struct Uses {
    /// The modules of the table it uses.
    modules: Vec<&'static str>,
    /// Paths that name no module of the table: a crate-root re-export (`crate::Result`), which
    /// hides the layer it comes from, or a folder's own item.
    unknown: Vec<String>,
}

/// What `code` refers to as `crate::...`, ignoring comments (doc links may point anywhere)
/// and `$crate` in exported macros.
fn uses(code: &str, table: &[(&'static str, u32)]) -> Uses {
    let mut found = Uses::default();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let before = &rest[..i];
            let after = &rest[i + "crate::".len()..];
            rest = after;
            if before.ends_with('$') {
                continue;
            }
            // The longest module path the reference starts with.
            if let Some((m, _)) = table
                .iter()
                .filter(|(m, _)| {
                    after.starts_with(m)
                        && !after[m.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
                })
                .max_by_key(|(m, _)| m.len())
            {
                found.modules.push(*m);
            } else if !exported_macro(after) {
                let path: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                found.unknown.push(format!("crate::{path}"));
            }
        }
    }
    found
}

/// Whether `path` starts with a `#[macro_export]` macro of ours, which lives at the crate
/// root whatever module defines it.
fn exported_macro(path: &str) -> bool {
    path.starts_with("__blazer_")
}

fn check_layers(crate_dir: &str, table: &[(&'static str, u32)]) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(crate_dir)
        .join("src");
    let mut wrong = Vec::new();
    for (module, layer) in table {
        let file = file_of(&src, module);
        let code = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {e} (update the table)", file.display()));
        // A module's own tests may use anything.
        let code = code.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        let used = uses(code, table);
        for path in used.unknown {
            wrong.push(format!(
                "{crate_dir}: `{module}` uses `{path}`, which names no module of the table: \
                 write the path through the module that defines it"
            ));
        }
        for used in used.modules {
            let their = table.iter().find(|(m, _)| *m == used).expect("known").1;
            if used != *module && their >= *layer {
                wrong.push(format!(
                    "{crate_dir}: `{module}` (layer {layer}) uses `{used}` (layer {their})"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "modules use their own or higher layers, or paths that skip the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn crate_root_paths_are_caught() {
    let code = "use crate::Result;\nfn f() -> crate::error::Result<()> { crate::wire::codec::encode(&1) }\n// crate::Error in a comment\n";
    let table = &[("error", 0), ("wire::codec", 1)];
    let used = uses(code, table);
    assert_eq!(used.modules, ["error", "wire::codec"]);
    assert_eq!(used.unknown, ["crate::Result"]);
}

#[test]
fn runtime_modules_use_only_lower_layers() {
    check_layers("blazer-runtime", RUNTIME);
}

#[test]
fn cluster_modules_use_only_lower_layers() {
    check_layers("blazer-cluster", CLUSTER);
}

#[test]
fn every_source_file_is_in_a_layer() {
    for (crate_dir, table) in [("blazer-runtime", RUNTIME), ("blazer-cluster", CLUSTER)] {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(crate_dir)
            .join("src");
        let mut files = Vec::new();
        let mut dirs = vec![src.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        for file in files {
            let rel = file.strip_prefix(&src).unwrap().with_extension("");
            let module = rel.to_string_lossy().replace('/', "::");
            let known = module == "lib"
                || module.ends_with("mod")
                || table.iter().any(|(m, _)| *m == module);
            assert!(
                known,
                "{crate_dir}/src/{module}.rs has no layer in tests/layers.rs"
            );
        }
    }
}

/// The modules of `table` under `src` with `unsafe` code in them (outside comments).
fn modules_with_unsafe(src: &Path, table: &[(&'static str, u32)]) -> Vec<&'static str> {
    let mut with_unsafe = Vec::new();
    for (module, _) in table {
        let code = std::fs::read_to_string(file_of(src, module)).unwrap();
        let blocks = code
            .lines()
            .filter(|l| !l.trim_start().starts_with("//") && l.contains("unsafe "))
            .count();
        if blocks > 0 {
            with_unsafe.push(*module);
        }
    }
    with_unsafe
}

/// Every `unsafe` block and `unsafe impl` of `module` has a `SAFETY:` comment in the 6 lines
/// above it.
fn each_unsafe_says_why(src: &Path, module: &str) {
    let file = file_of(src, module);
    let code = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = code.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let code_part = line.split("//").next().unwrap_or("");
        if code_part.contains("unsafe {") || code_part.contains("unsafe impl") {
            let above = lines[..i]
                .iter()
                .rev()
                .take(6)
                .any(|l| l.contains("SAFETY:"));
            assert!(
                above,
                "{}:{}: unsafe without a SAFETY comment",
                file.display(),
                i + 1
            );
        }
    }
}

#[test]
fn each_unsafe_invariant_lives_in_one_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("blazer-runtime/src");
    let with_unsafe = modules_with_unsafe(&src, RUNTIME);
    // Each unsafe invariant lives in one file: detached parts point into the message their
    // `Encoded` owns (transport); a payload's lent part points into the vector the part owns
    // (payload); blocks are aligned allocations a `Vec` takes over (payload::block); plain
    // numbers are plain bytes (raw, payload::vectors); the OS calls std lacks: flock on the
    // checkpoint log, the program's own mapped image for the build identity, and the unit
    // tests' counting allocator (os); the GPU module's FFI calls: loading NVRTC (gpu::nvrtc),
    // flock on a device's lock file (gpu::lock), a kernel launch in a test (gpu::handle); the
    // communicator lent to the heartbeat thread (heartbeat); one ioctl on the process's own
    // output pipes (output); a dataset step's kernel found from its distance to an anchor in
    // the program image, checked before use (dist::kernel). Any other file with `unsafe`
    // needs a look, and a line here.
    assert_eq!(
        with_unsafe,
        [
            "raw",
            "os",
            "output",
            "gpu::lock",
            "gpu::nvrtc",
            "wire::transport",
            "dist::kernel",
            "wire::payload",
            "wire::payload::block",
            "wire::payload::vectors",
            "wire::heartbeat",
            "gpu::handle"
        ]
    );
    for module in &with_unsafe {
        each_unsafe_says_why(&src, module);
    }
    // blazer-cluster calls libc: mkfifo on a path it owns (private_files), getpid, and prctl
    // and getppid in a forked child (process), volatile writes that wipe a secret (secret).
    let src = root.join("blazer-cluster/src");
    let with_unsafe = modules_with_unsafe(&src, CLUSTER);
    assert_eq!(with_unsafe, ["private_files", "process", "secret"]);
    for module in &with_unsafe {
        each_unsafe_says_why(&src, module);
    }
}
