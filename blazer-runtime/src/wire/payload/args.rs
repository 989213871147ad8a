//! A task's arguments as pieces of one payload: encoded one by one, each in its own form,
//! and decoded the same way (see [`crate::task::ArgSink`] and [`crate::task::ArgSource`]).

use super::*;

/// A task's arguments being encoded one by one: each is a piece of the payload.
#[derive(Debug, Default)]
pub(crate) struct ArgPieces {
    payload: Payload,
    pieces: usize,
}

impl ArgPieces {
    /// The encoded arguments.
    pub(crate) fn into_payload(self) -> Payload {
        self.payload
    }
}

impl crate::task::ArgSink for ArgPieces {
    fn arg<A: Serialize + 'static>(&mut self, arg: A) -> Result<(), String> {
        let next = Payload::encode_owned(arg).map_err(|e| e.to_string())?;
        if self.pieces == 0 {
            self.payload = next;
        } else {
            // A mark even after an empty piece (an argument of type `()`).
            self.payload.join(next, true);
        }
        self.pieces += 1;
        Ok(())
    }
}

/// The encoded arguments of a task, decoded piece by piece (or whole).
#[derive(Debug)]
pub(crate) struct ArgsIn(pub(crate) Payload);

impl crate::task::ArgSource for ArgsIn {
    fn pieces(&self) -> usize {
        self.0.pieces()
    }

    fn arg<A: DeserializeOwned + 'static>(&mut self) -> Result<A, String> {
        self.0.split_first().decode().map_err(|e| e.to_string())
    }

    fn whole<T: DeserializeOwned + 'static>(&mut self) -> Result<T, String> {
        std::mem::take(&mut self.0)
            .decode()
            .map_err(|e| e.to_string())
    }
}
