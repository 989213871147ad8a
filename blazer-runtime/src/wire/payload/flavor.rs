//! postcard's input and output for payloads: [`Writer`] cuts long runs out of line as it
//! encodes, [`Reader`] reads a payload's bytes in order across its head and parts.

use super::*;

/// A postcard output that builds a [`Payload`].
#[derive(Default)]
pub(super) struct Writer {
    pub(super) payload: Payload,
    /// Inline bytes written since the last part.
    pub(super) inline: usize,
}

impl Writer {
    fn push_part(&mut self, block: Block) {
        self.payload.parts.push(Part {
            at: self.payload.head.len(),
            align: block.align(),
            kind: Kind::Bytes,
            run: Run::Owned(Rc::new(block)),
        });
        self.inline = 0;
    }

    /// Moves the inline bytes written since the last part into a part of their own.
    fn spill(&mut self) -> postcard::Result<()> {
        let start = self.payload.head.len() - self.inline;
        let block = Block::copy_of(&self.payload.head[start..], 1)
            .ok_or(postcard::Error::SerializeBufferFull)?;
        self.payload.head.truncate(start);
        self.push_part(block);
        Ok(())
    }
}

impl postcard::ser_flavors::Flavor for Writer {
    type Output = Payload;

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        if self.inline >= SPILL {
            self.spill()?;
        }
        if data.len() >= PART_MIN {
            let block = Block::copy_of(data, 1).ok_or(postcard::Error::SerializeBufferFull)?;
            self.push_part(block);
        } else {
            self.payload.head.extend_from_slice(data);
            self.inline += data.len();
        }
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.try_extend(&[data])
    }

    fn finalize(self) -> postcard::Result<Payload> {
        Ok(self.payload)
    }
}

/// A postcard input that reads a [`Payload`]'s bytes in order across its head and parts.
pub(super) struct Reader<'a> {
    segments: Vec<&'a [u8]>,
    /// Current segment, and position in it.
    seg: usize,
    pos: usize,
    /// For reads that span segments.
    scratch: Vec<u8>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(payload: &'a Payload) -> Reader<'a> {
        Reader {
            segments: payload.segments().collect(),
            seg: 0,
            pos: 0,
            scratch: Vec::new(),
        }
    }

    /// Moves past the first `n` bytes (reading on from an offset).
    pub(super) fn skip(&mut self, mut n: usize) -> postcard::Result<()> {
        while n > 0 {
            let rest = self.current().len();
            if rest == 0 {
                return Err(postcard::Error::DeserializeUnexpectedEnd);
            }
            let step = rest.min(n);
            self.pos += step;
            n -= step;
        }
        Ok(())
    }

    /// The rest of the current segment, moving past exhausted ones.
    fn current(&mut self) -> &'a [u8] {
        while let Some(s) = self.segments.get(self.seg) {
            if self.pos < s.len() {
                return &s[self.pos..];
            }
            self.seg += 1;
            self.pos = 0;
        }
        &[]
    }
}

impl<'de> postcard::de_flavors::Flavor<'de> for Reader<'de> {
    /// How many bytes are left unread: a value must use them all to be exact.
    type Remainder = usize;
    type Source = ();

    fn pop(&mut self) -> postcard::Result<u8> {
        let byte = *self
            .current()
            .first()
            .ok_or(postcard::Error::DeserializeUnexpectedEnd)?;
        self.pos += 1;
        Ok(byte)
    }

    fn try_take_n(&mut self, ct: usize) -> postcard::Result<&'de [u8]> {
        if ct == 0 {
            return Ok(&[]);
        }
        let rest = self.current();
        // Runs are written whole, so a read of one never spans segments.
        let taken = rest
            .get(..ct)
            .ok_or(postcard::Error::DeserializeUnexpectedEnd)?;
        self.pos += ct;
        Ok(taken)
    }

    fn try_take_n_temp<'b>(&'b mut self, ct: usize) -> postcard::Result<&'b [u8]>
    where
        'de: 'b,
    {
        if self.current().len() >= ct {
            return self.try_take_n(ct);
        }
        self.scratch.clear();
        while self.scratch.len() < ct {
            let rest = self.current();
            if rest.is_empty() {
                return Err(postcard::Error::DeserializeUnexpectedEnd);
            }
            let n = rest.len().min(ct - self.scratch.len());
            self.scratch.extend_from_slice(&rest[..n]);
            self.pos += n;
        }
        Ok(&self.scratch)
    }

    fn finalize(mut self) -> postcard::Result<usize> {
        let here = self.current().len();
        let later = self.segments.iter().skip(self.seg + 1).map(|s| s.len());
        Ok(here + later.sum::<usize>())
    }
}
