//! Findings on disk (`target/fuzz-findings/`): for each distinct failure (a panic's place, a
//! broken promise's sentence, a crash) the smallest input seen so far, beside a note with
//! the failure and the commands that replay it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub struct Findings {
    dir: PathBuf,
    target: &'static str,
    seed: u64,
    /// Signature → size of the input kept for it.
    kept: HashMap<String, usize>,
    count: u64,
}

impl Findings {
    pub fn new(dir: &Path, target: &'static str, seed: u64) -> Findings {
        Findings {
            dir: dir.to_owned(),
            target,
            seed,
            kept: HashMap::new(),
            count: 0,
        }
    }

    /// Counts a failing input, and keeps it if its failure is new or it is smaller than the
    /// one kept; the path of the kept input.
    pub fn add(&mut self, index: u64, body: &[u8], failure: &str) -> PathBuf {
        self.count += 1;
        let signature = signature(failure);
        let base = self
            .dir
            .join(format!("{}-{:016x}", self.target, fnv(&signature)));
        let input = base.with_extension("in");
        if self
            .kept
            .get(&signature)
            .is_some_and(|size| *size <= body.len())
        {
            return input;
        }
        self.kept.insert(signature, body.len());
        let note = format!(
            "target: {target}\nseed: {seed}\nindex: {index}\nbytes: {len}\nfailure: {failure}\n\
             replay: chatsource-fuzz replay {target} --seed {seed} --index {index}\n\
             replay: chatsource-fuzz replay {target} --file {file}\n",
            target = self.target,
            seed = self.seed,
            len = body.len(),
            file = input.display(),
        );
        let written = std::fs::create_dir_all(&self.dir)
            .and_then(|()| std::fs::write(&input, body))
            .and_then(|()| std::fs::write(base.with_extension("txt"), note));
        if let Err(e) = written {
            warn(&format!("cannot write {}: {e}", input.display()));
        }
        input
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn distinct(&self) -> usize {
        self.kept.len()
    }
}

/// What makes two failures the same: a panic's place (its first line, numbers and all), or
/// the start of a broken promise's or a crash's sentence without its numbers (sizes, thread
/// ids: they vary by input).
pub fn signature(failure: &str) -> String {
    let first = failure.lines().next().unwrap_or_default();
    match failure.starts_with("panic") {
        true => first.to_owned(),
        false => first
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .take(80)
            .collect(),
    }
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A finding that cannot be written is still counted and reported on stdout by the
/// supervisor; this only says why the file is missing.
fn warn(message: &str) {
    eprintln!("chatsource-fuzz: {message}");
}
