//! `scripts/setup.sh --check` names exactly the packages a machine lacks, judged on fake file
//! systems (`BLAZER_SETUP_ROOT`) so that the answer never depends on this machine.
//!
//! The libclang cases follow clang-sys 1.9, which bindgen uses to load libclang in rsmpi's
//! build: the names `libclang.so`, `libclang-*.so`, `libclang.so.*` and `libclang-*.so.*`
//! (never `libclang-cpp*`), 64-bit ELF only, in `LIBCLANG_PATH` alone when it is set, else in
//! `LD_LIBRARY_PATH`, `LIBRARY_PATH` and `/usr/local/llvm*/lib*`, `/usr/local/lib*/*/*`, ...,
//! `/usr/lib*`.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where Debian 12 puts libraries.
const MULTIARCH: &str = "usr/lib/x86_64-linux-gnu";

/// A fake root file system in a temporary directory, removed when dropped.
struct Root(PathBuf);

impl Root {
    fn empty() -> Root {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "blazer-setup-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Root(dir)
    }

    /// What a fresh Debian 12 image of the project's kind holds: LLVM 14's C++ library
    /// (libclang-cpp14, at both of its paths) and nothing else setup.sh looks for.
    fn fresh_image() -> Root {
        let root = Root::empty();
        root.elf64("usr/lib/llvm-14/lib/libclang-cpp.so.14");
        root.link(
            &format!("{MULTIARCH}/libclang-cpp.so.14"),
            "../llvm-14/lib/libclang-cpp.so.14",
        );
        root
    }

    /// A fresh image after `apt-get install openmpi-bin libopenmpi-dev libclang1-14
    /// libclang-common-14-dev`, with those packages' files where Debian 12 puts them.
    fn complete() -> Root {
        let root = Root::fresh_image();
        root.with_open_mpi();
        root.elf64(&format!("{MULTIARCH}/libclang-14.so.14.0.6"));
        root.link(
            &format!("{MULTIARCH}/libclang-14.so.13"),
            "libclang-14.so.14.0.6",
        );
        root.link(
            &format!("{MULTIARCH}/libclang-14.so.1"),
            "libclang-14.so.13",
        );
        root.link(
            "usr/lib/llvm-14/lib/libclang-14.so.1",
            "../../x86_64-linux-gnu/libclang-14.so.1",
        );
        root.link("usr/lib/llvm-14/lib/libclang.so.1", "libclang-14.so.1");
        root.with_clang_headers();
        root
    }

    fn with_open_mpi(&self) {
        self.file("usr/bin/ompi_info", b"", 0o755);
        self.file(&format!("{MULTIARCH}/openmpi/include/mpi.h"), b"", 0o644);
    }

    fn with_clang_headers(&self) {
        self.file(
            "usr/lib/llvm-14/lib/clang/14.0.6/include/stddef.h",
            b"",
            0o644,
        );
        self.link(
            "usr/lib/clang/14.0.6/include",
            "../../llvm-14/lib/clang/14.0.6/include",
        );
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    fn file(&self, rel: &str, bytes: &[u8], mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A file that starts like a 64-bit ELF shared library (all clang-sys reads of it).
    fn elf64(&self, rel: &str) {
        self.file(rel, b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0", 0o644);
    }

    /// The same for a 32-bit library (an i386 multiarch copy).
    fn elf32(&self, rel: &str) {
        self.file(rel, b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0", 0o644);
    }

    /// A relative symbolic link, as Debian's packages make them.
    fn link(&self, rel: &str, target: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        symlink(target, path).unwrap();
    }

    fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path(rel)).unwrap();
    }

    /// What `scripts/setup.sh --check` says this root lacks, with only `env` set of the
    /// variables that steer the search.
    fn missing_with(&self, env: &[(&str, &str)]) -> Vec<String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/setup.sh");
        let mut cmd = Command::new("bash");
        cmd.arg(script).arg("--check");
        for name in ["LIBCLANG_PATH", "LD_LIBRARY_PATH", "LIBRARY_PATH"] {
            cmd.env_remove(name);
        }
        let out = cmd
            .env("BLAZER_SETUP_ROOT", &self.0)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .envs(env.iter().copied())
            .output()
            .expect("run bash");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "setup.sh --check failed: {out:?}\n{stdout}"
        );
        stdout.lines().map(str::to_string).collect()
    }

    fn missing(&self) -> Vec<String> {
        self.missing_with(&[])
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_fresh_image_needs_every_package_and_libclang_cpp_is_not_libclang() {
    let every = [
        "openmpi-bin",
        "libopenmpi-dev",
        "libclang1-14",
        "libclang-common-14-dev",
    ];
    assert_eq!(Root::fresh_image().missing(), every);
    // `--packages`, what .ci/run purges before the scripts install them again, lists them all.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/setup.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg("--packages")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .collect::<Vec<_>>(),
        every
    );
}

#[test]
fn an_installed_machine_needs_nothing() {
    assert!(Root::complete().missing().is_empty());
}

#[test]
fn libclang_cpp_alone_still_needs_libclang1() {
    // The image's state that broke a fresh install: everything but libclang1-14.
    let root = Root::fresh_image();
    root.with_open_mpi();
    root.with_clang_headers();
    assert_eq!(root.missing(), ["libclang1-14"]);
    // Also when the C++ library sits in a directory bindgen is pointed at.
    let dir = format!("/{MULTIARCH}");
    assert_eq!(
        root.missing_with(&[("LD_LIBRARY_PATH", &dir)]),
        ["libclang1-14"]
    );
}

#[test]
fn each_name_bindgen_loads_is_enough() {
    for name in [
        "usr/lib/llvm-14/lib/libclang.so.1",
        "usr/lib/x86_64-linux-gnu/libclang-14.so.1",
        "usr/lib/llvm-17/lib/libclang.so",
        "usr/lib/libclang-16.so",
        "usr/local/lib/libclang.so.18.1",
        "usr/local/llvm18/lib64/libclang.so",
    ] {
        let root = Root::fresh_image();
        root.with_open_mpi();
        root.with_clang_headers();
        root.elf64(name);
        assert!(root.missing().is_empty(), "{name}");
    }
}

#[test]
fn a_libclang_bindgen_cannot_load_does_not_count() {
    let root = Root::fresh_image();
    root.with_open_mpi();
    root.with_clang_headers();
    // 32-bit (i386 multiarch), a dangling link (left by a purge), a directory clang-sys never
    // searches, and a file whose name it does not try.
    root.elf32("usr/lib/i386-linux-gnu/libclang-14.so.1");
    root.link(&format!("{MULTIARCH}/libclang.so.1"), "libclang-14.so.1");
    root.elf64("opt/llvm/lib/libclang.so");
    root.elf64(&format!("{MULTIARCH}/libclangBasic.so.14"));
    assert_eq!(root.missing(), ["libclang1-14"]);
}

#[test]
fn libclang_path_and_library_paths_are_searched_like_clang_sys() {
    let root = Root::fresh_image();
    root.with_open_mpi();
    root.with_clang_headers();
    root.elf64("opt/llvm/lib/libclang.so");
    assert!(root
        .missing_with(&[("LIBCLANG_PATH", "/opt/llvm/lib")])
        .is_empty());
    assert!(root
        .missing_with(&[("LIBCLANG_PATH", "/opt/llvm/lib/libclang.so")])
        .is_empty());
    assert!(root
        .missing_with(&[("LD_LIBRARY_PATH", "/nowhere:/opt/llvm/lib")])
        .is_empty());
    assert!(root
        .missing_with(&[("LIBRARY_PATH", "/opt/llvm/lib")])
        .is_empty());
    // While LIBCLANG_PATH is set, clang-sys looks nowhere else.
    let complete = Root::complete();
    assert_eq!(
        complete.missing_with(&[("LIBCLANG_PATH", "/opt/llvm/lib")]),
        ["libclang1-14"]
    );
    assert_eq!(
        complete.missing_with(&[("LIBCLANG_PATH", "/usr/lib/llvm-14/lib/libclang-cpp.so.14")]),
        ["libclang1-14"]
    );
}

#[test]
fn clang_headers_and_open_mpi_are_checked_each() {
    let root = Root::complete();
    root.remove("usr/lib/llvm-14/lib/clang/14.0.6/include/stddef.h");
    assert_eq!(root.missing(), ["libclang-common-14-dev"]);

    let root = Root::complete();
    root.remove("usr/bin/ompi_info");
    assert_eq!(root.missing(), ["openmpi-bin"]);

    let root = Root::complete();
    root.remove(&format!("{MULTIARCH}/openmpi/include/mpi.h"));
    // MPICH's headers are not Open MPI's: the README's commands build against Open MPI.
    root.file(&format!("{MULTIARCH}/mpich/include/mpi.h"), b"", 0o644);
    assert_eq!(root.missing(), ["libopenmpi-dev"]);
}

/// `--browser` adds Debian's Chromium (tests/report.rs draws the report with it): named when
/// it is not on the PATH, listed by `--packages --browser` for .ci/run's purge, and nowhere
/// without the flag.
#[test]
fn the_browser_counts_only_when_asked_for() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/setup.sh");
    let run = |root: &Root, args: &[&str]| {
        let out = Command::new("bash")
            .arg(&script)
            .args(args)
            .env("BLAZER_SETUP_ROOT", &root.0)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env_remove("LIBCLANG_PATH")
            .env_remove("LD_LIBRARY_PATH")
            .env_remove("LIBRARY_PATH")
            .output()
            .expect("run bash");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let root = Root::complete();
    assert!(run(&root, &["--check"]).is_empty());
    assert_eq!(run(&root, &["--check", "--browser"]), ["chromium"]);
    assert_eq!(run(&root, &["--browser", "--check"]), ["chromium"]);
    root.file("usr/bin/chromium", b"#!/bin/sh\n", 0o755);
    assert!(run(&root, &["--check", "--browser"]).is_empty());
    let fresh = Root::fresh_image();
    assert_eq!(
        run(&fresh, &["--check", "--browser"])
            .last()
            .map(String::as_str),
        Some("chromium")
    );
    let listed = run(&Root::fresh_image(), &["--packages", "--browser"]);
    assert_eq!(listed.last().map(String::as_str), Some("chromium"));
    assert_eq!(listed.len(), 5, "{listed:?}");
}
