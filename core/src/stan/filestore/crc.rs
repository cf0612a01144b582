//! CRC-32 with any polynomial, as Go's `hash/crc32` computes it.
//!
//! The file store checksums every record payload (and every index record)
//! with `crc32.Checksum(data, crc32.MakeTable(poly))`, `poly` being the
//! `--file_crc_poly` option in Go's reversed (LSB-first) notation, IEEE
//! (`0xedb88320` = 3988292384) by default. A [`Crc32`] table reproduces it for
//! any polynomial: reflected input and output, initial value and final XOR
//! `0xffffffff`. Tables are built by a `const fn`, so the IEEE one is a
//! compile-time constant ([`Crc32::IEEE`]); checksumming uses slicing-by-8
//! (eight bytes per step), which gives the same result as the byte-at-a-time
//! loop it is tested against.

/// Go's `crc32.IEEE`, the default `--file_crc_poly` (3988292384).
pub const IEEE_POLYNOMIAL: u32 = 0xedb8_8320;

/// Go's `crc32.Castagnoli` (reversed notation), a common alternative.
pub const CASTAGNOLI_POLYNOMIAL: u32 = 0x82f6_3b78;

/// Go's `crc32.Koopman` (reversed notation).
pub const KOOPMAN_POLYNOMIAL: u32 = 0xeb31_d82e;

/// A `--file_crc_poly` value Go refuses.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error("crc polynomial should be between 1 and 4294967295")]
pub struct InvalidPolynomial {
    /// The value given.
    pub value: i64,
}

/// A CRC-32 lookup table for one polynomial (8 KiB: eight 256-entry tables
/// for slicing-by-8).
#[derive(Clone)]
pub struct Crc32 {
    polynomial: u32,
    tables: [[u32; 256]; 8],
}

impl std::fmt::Debug for Crc32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crc32")
            .field("polynomial", &format_args!("{:#010x}", self.polynomial))
            .finish_non_exhaustive()
    }
}

impl PartialEq for Crc32 {
    fn eq(&self, other: &Self) -> bool {
        self.polynomial == other.polynomial
    }
}

impl Eq for Crc32 {}

impl Crc32 {
    /// The IEEE table (Go's `crc32.IEEETable`), built at compile time.
    pub const IEEE: Crc32 = Crc32::new(IEEE_POLYNOMIAL);

    /// The table of `polynomial` in reversed notation, like Go's
    /// `crc32.MakeTable(polynomial)`. Any value is accepted (0 gives a
    /// degenerate but well-defined checksum); see [`Crc32::from_option`] for
    /// the range Go's option accepts.
    pub const fn new(polynomial: u32) -> Crc32 {
        let mut tables = [[0u32; 256]; 8];
        let mut i = 0;
        while i < 256 {
            let mut crc = i as u32;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ polynomial
                } else {
                    crc >> 1
                };
                bit += 1;
            }
            tables[0][i] = crc;
            i += 1;
        }
        let mut i = 0;
        while i < 256 {
            let mut crc = tables[0][i];
            let mut k = 1;
            while k < 8 {
                crc = tables[0][(crc & 0xff) as usize] ^ (crc >> 8);
                tables[k][i] = crc;
                k += 1;
            }
            i += 1;
        }
        Crc32 { polynomial, tables }
    }

    /// The table for a `--file_crc_poly` value, refused like Go refuses it
    /// (`crc polynomial should be between 1 and 4294967295`).
    pub fn from_option(value: i64) -> Result<Crc32, InvalidPolynomial> {
        match u32::try_from(value) {
            Ok(p) if p > 0 => Ok(if p == IEEE_POLYNOMIAL {
                Crc32::IEEE
            } else {
                Crc32::new(p)
            }),
            _ => Err(InvalidPolynomial { value }),
        }
    }

    /// The polynomial (reversed notation) this table was built for.
    pub fn polynomial(&self) -> u32 {
        self.polynomial
    }

    /// The checksum of `data` (Go's `crc32.Checksum(data, table)`).
    pub fn checksum(&self, data: &[u8]) -> u32 {
        self.update(0, data)
    }

    /// Continues checksum `crc` over `data` (Go's
    /// `crc32.Update(crc, table, data)`): `update(checksum(a), b)` is
    /// `checksum(a ++ b)`.
    pub fn update(&self, crc: u32, data: &[u8]) -> u32 {
        let t = &self.tables;
        let mut crc = !crc;
        let mut chunks = data.chunks_exact(8);
        for c in &mut chunks {
            let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            crc = t[7][(lo & 0xff) as usize]
                ^ t[6][((lo >> 8) & 0xff) as usize]
                ^ t[5][((lo >> 16) & 0xff) as usize]
                ^ t[4][(lo >> 24) as usize]
                ^ t[3][usize::from(c[4])]
                ^ t[2][usize::from(c[5])]
                ^ t[1][usize::from(c[6])]
                ^ t[0][usize::from(c[7])];
        }
        for &b in chunks.remainder() {
            crc = t[0][((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
        }
        !crc
    }
}

impl Default for Crc32 {
    /// [`Crc32::IEEE`], the file store's default.
    fn default() -> Self {
        Crc32::IEEE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook byte-at-a-time algorithm, straight from the definition.
    fn bitwise(poly: u32, data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ poly
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn known_vectors() {
        // The "check" values of the CRC catalogue (input "123456789").
        assert_eq!(Crc32::IEEE.checksum(b"123456789"), 0xcbf4_3926);
        assert_eq!(
            Crc32::new(CASTAGNOLI_POLYNOMIAL).checksum(b"123456789"),
            0xe306_9283
        );
        assert_eq!(
            Crc32::new(KOOPMAN_POLYNOMIAL).checksum(b"123456789"),
            0x2d3d_d0ae
        );
        // Go's hash/crc32 test table (IEEE).
        assert_eq!(Crc32::IEEE.checksum(b""), 0);
        assert_eq!(Crc32::IEEE.checksum(b"a"), 0xe8b7_be43);
        assert_eq!(Crc32::IEEE.checksum(b"ab"), 0x9e83_486d);
        assert_eq!(Crc32::IEEE.checksum(b"abc"), 0x3524_41c2);
        assert_eq!(
            Crc32::IEEE.checksum(b"The quick brown fox jumps over the lazy dog"),
            0x414f_a339
        );
        assert_eq!(IEEE_POLYNOMIAL, 3_988_292_384);
    }

    #[test]
    fn fixture_records() {
        // Payloads and stored CRCs of records the Go server wrote
        // (../shared/fixtures/go-filestore-0.25.6/store).
        // clients.dat, the delete record of `billing-client`:
        let delete = b"\x0a\x0ebilling-client";
        assert_eq!(Crc32::IEEE.checksum(delete), 0xdda9_76cc);
        // events.a/subs.dat, SubStateUpdate{ID: 1, seqno: 3}:
        assert_eq!(Crc32::IEEE.checksum(b"\x08\x01\x10\x03"), 0x36f9_de2f);
        // events.a/msgs.1.idx, the first index record (CRC of its 28 bytes).
        let idx: [u8; 28] = [
            1, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0xa8, 0x6e, 0xc1, 0x97, 0x61, 0x8a,
            0xec, 0x18, 0x29, 0, 0, 0,
        ];
        assert_eq!(Crc32::IEEE.checksum(&idx), 0x56f2_a68a);
    }

    #[test]
    fn slicing_matches_bitwise_for_any_polynomial_and_length() {
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for poly in [
            IEEE_POLYNOMIAL,
            CASTAGNOLI_POLYNOMIAL,
            1,
            0x8000_0000,
            0xffff_ffff,
            0,
        ] {
            let table = Crc32::new(poly);
            for len in 0..data.len() {
                assert_eq!(
                    table.checksum(&data[..len]),
                    bitwise(poly, &data[..len]),
                    "poly {poly:#x} len {len}"
                );
            }
            let (a, b) = data.split_at(77);
            assert_eq!(table.update(table.checksum(a), b), table.checksum(&data));
        }
    }

    #[test]
    fn option_range() {
        assert_eq!(Crc32::from_option(3_988_292_384).unwrap(), Crc32::IEEE);
        assert_eq!(Crc32::from_option(1).unwrap().polynomial(), 1);
        assert_eq!(
            Crc32::from_option(0xffff_ffff).unwrap().polynomial(),
            0xffff_ffff
        );
        for bad in [0, -1, 0x1_0000_0000] {
            let err = Crc32::from_option(bad).unwrap_err();
            assert_eq!(
                err.to_string(),
                "crc polynomial should be between 1 and 4294967295"
            );
        }
        assert_eq!(Crc32::default(), Crc32::IEEE);
    }
}
