//! The ranks' output, split by rank from the tags the launcher adds to each line:
//! Open MPI's `--tag-output` (`[1,3]<stdout>:text`), Hydra's `-prepend-rank` (`[3] text`)
//! and srun's `--label` (` 3: text`).

use crate::Family;
use std::collections::BTreeMap;

/// One piece of a tagged line: the rank that wrote it (`None`: the launcher itself, or a line
/// without a tag) and the text, without the tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The rank that wrote the text, if tagged.
    pub rank: Option<u32>,
    /// The text (without its line end).
    pub text: String,
    /// Whether the rank's line ends after this text. Open MPI tags every chunk a rank writes,
    /// so a line written in pieces (`test result: `, then `ok. 1 passed`) comes as chunks of
    /// one line, each but the last followed by the next chunk's tag.
    pub ends_line: bool,
}

/// Splits one line of a launcher's output (without its `\n`) into the pieces each rank wrote.
/// Open MPI may join a rank's unfinished line with the next rank's on one line
/// (`[1,0]<stdout>:a[1,1]<stdout>:b`): both pieces are returned.
pub fn split_line(family: Family, line: &str) -> Vec<Piece> {
    match family {
        Family::OpenMpi => split_at_tags(line, open_mpi_tag),
        Family::Mpich => split_at_tags(line, hydra_tag),
        Family::Slurm => {
            let tagged = line.split_once(": ").and_then(|(rank, text)| {
                Some(Piece {
                    rank: Some(rank.trim_start().parse().ok()?),
                    text: text.to_string(),
                    ends_line: true,
                })
            });
            vec![tagged.unwrap_or_else(|| untagged(line))]
        }
    }
}

fn untagged(line: &str) -> Piece {
    Piece {
        rank: None,
        text: line.to_string(),
        ends_line: true,
    }
}

/// `[job,rank]<stdout>:` or `<stderr>:` at the start of `s`: the rank and the tag's length.
fn open_mpi_tag(s: &str) -> Option<(u32, usize)> {
    let rest = s.strip_prefix('[')?;
    let (ids, after) = rest.split_once(']')?;
    let (_job, rank) = ids.split_once(',')?;
    let rank: u32 = rank.parse().ok()?;
    let stream_len = ["<stdout>:", "<stderr>:", "<stddiag>:"]
        .iter()
        .find(|t| after.starts_with(**t))?
        .len();
    Some((rank, 1 + ids.len() + 1 + stream_len))
}

/// Hydra's `[rank] ` at the start of `s`: the rank and the tag's length. Like Open MPI,
/// Hydra tags every chunk, so a tag may follow a rank's unfinished line; text that itself
/// holds `[digits] ` after other text on a line is taken for a tag too.
fn hydra_tag(s: &str) -> Option<(u32, usize)> {
    let rest = s.strip_prefix('[')?;
    let (rank, after) = rest.split_once(']')?;
    if !after.starts_with(' ') || rank.is_empty() || !rank.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((rank.parse().ok()?, rank.len() + 3))
}

/// Splits `line` at each tag `tag` recognises (scanning every `[`).
fn split_at_tags(line: &str, tag: fn(&str) -> Option<(u32, usize)>) -> Vec<Piece> {
    let mut starts = Vec::new();
    for (i, _) in line.match_indices('[') {
        if let Some((rank, len)) = tag(&line[i..]) {
            starts.push((i, rank, len));
        }
    }
    if starts.is_empty() {
        return vec![untagged(line)];
    }
    let mut pieces = Vec::new();
    if starts[0].0 > 0 {
        pieces.push(untagged(&line[..starts[0].0]));
    }
    for (k, &(at, rank, len)) in starts.iter().enumerate() {
        let next = starts.get(k + 1);
        let end = next.map_or(line.len(), |s| s.0);
        pieces.push(Piece {
            rank: Some(rank),
            text: line[at + len..end].to_string(),
            ends_line: next.is_none(),
        });
    }
    pieces
}

/// Everything the launcher printed, split by rank.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ByRank {
    /// Each rank's lines, in the order they came.
    pub ranks: BTreeMap<u32, String>,
    /// Lines without a rank's tag: the launcher's own messages.
    pub launcher: String,
}

impl ByRank {
    /// Adds one line of output.
    pub fn push_line(&mut self, family: Family, line: &str) {
        for piece in split_line(family, line) {
            let to = match piece.rank {
                Some(r) => self.ranks.entry(r).or_default(),
                None => &mut self.launcher,
            };
            to.push_str(&piece.text);
            if piece.ends_line {
                to.push('\n');
            }
        }
    }

    /// Splits a whole output.
    pub fn of(family: Family, text: &str) -> ByRank {
        let mut by = ByRank::default();
        for line in text.lines() {
            by.push_line(family, line);
        }
        by
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_mpi_tags() {
        let by = ByRank::of(
            Family::OpenMpi,
            "[1,1]<stdout>:hi 1\n[1,0]<stdout>:hi 0\n[1,0]<stdout>:no newline[1,1]<stdout>:x\n\
             [1,1]<stderr>:err [2] not a tag\n--------\nPrimary job terminated\n",
        );
        assert_eq!(by.ranks[&0], "hi 0\nno newline");
        assert_eq!(by.ranks[&1], "hi 1\nx\nerr [2] not a tag\n");
        assert_eq!(by.launcher, "--------\nPrimary job terminated\n");
    }

    #[test]
    fn a_line_written_in_pieces_is_one_line() {
        let by = ByRank::of(
            Family::OpenMpi,
            "[1,1]<stdout>:test result: [1,1]<stdout>:ok. 1 passed\n[1,0]<stdout>:a[1,0]<stdout>:b\n",
        );
        assert_eq!(by.ranks[&1], "test result: ok. 1 passed\n");
        assert_eq!(by.ranks[&0], "ab\n");
    }

    #[test]
    fn hydra_and_srun_tags() {
        let by = ByRank::of(
            Family::Mpich,
            "[0] a\n[1] b: c\n[x] d\nplain\n[0] part[1] hi\n[1] part[1] rest\n[0] rest\n",
        );
        assert_eq!(by.ranks[&0], "a\npartrest\n");
        assert_eq!(by.ranks[&1], "b: c\nhi\npartrest\n");
        assert_eq!(by.launcher, "[x] d\nplain\n");
        let by = ByRank::of(Family::Slurm, " 0: a\n10: b\nsrun: error: x\n");
        assert_eq!(by.ranks[&0], "a\n");
        assert_eq!(by.ranks[&10], "b\n");
        assert_eq!(by.launcher, "srun: error: x\n");
    }
}
