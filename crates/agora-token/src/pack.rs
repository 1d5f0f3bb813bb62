//! Agora's byte packing: little-endian integers, `u16`-length byte strings and privilege maps.

use std::collections::BTreeMap;

use crate::ParseError;

/// Appends Agora's wire types to a byte buffer.
#[derive(Debug, Default)]
pub(crate) struct Packer {
    buf: Vec<u8>,
}

impl Packer {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }

    pub(crate) fn u16(&mut self, value: u16) -> &mut Self {
        self.buf.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub(crate) fn u32(&mut self, value: u32) -> &mut Self {
        self.buf.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// A byte string: `u16 length ‖ bytes`. Callers keep inputs under 64 KiB (validated upstream).
    pub(crate) fn bytes(&mut self, value: &[u8]) -> &mut Self {
        let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
        self.u16(len);
        self.buf.extend_from_slice(&value[..usize::from(len)]);
        self
    }

    /// A privilege map: `u16 count ‖ (u16 key ‖ u32 value)*`, keys ascending.
    pub(crate) fn privileges(&mut self, map: &BTreeMap<u16, u32>) -> &mut Self {
        let count = u16::try_from(map.len()).unwrap_or(u16::MAX);
        self.u16(count);
        for (key, value) in map.iter().take(usize::from(count)) {
            self.u16(*key).u32(*value);
        }
        self
    }

    pub(crate) fn raw(&mut self, value: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(value);
        self
    }

    pub(crate) fn into_inner(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads Agora's wire types from untrusted bytes; every read is bounds-checked.
#[derive(Debug)]
pub(crate) struct Unpacker<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Unpacker<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.data.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        let end = self.pos.checked_add(n).ok_or(ParseError::Truncated)?;
        let slice = self.data.get(self.pos..end).ok_or(ParseError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, ParseError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, ParseError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], ParseError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// Reads a privilege map. Duplicate keys keep the last value, as Agora's parsers do.
    pub(crate) fn privileges(&mut self) -> Result<BTreeMap<u16, u32>, ParseError> {
        let count = self.u16()?;
        let mut map = BTreeMap::new();
        for _ in 0..count {
            let key = self.u16()?;
            let value = self.u32()?;
            map.insert(key, value);
        }
        Ok(map)
    }

    pub(crate) fn finish(&self) -> Result<(), ParseError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ParseError::TrailingBytes)
        }
    }
}
