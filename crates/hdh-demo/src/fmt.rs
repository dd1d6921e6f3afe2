//! Allocation-free CSV row formatting and a precomputed calendar.

use chrono::{Datelike, NaiveDate};

/// Day 0 of the day index: 2021-01-01.
pub(crate) fn day0() -> NaiveDate {
    NaiveDate::from_ymd_opt(2021, 1, 1).unwrap_or_default()
}

/// Last day of the DCIR period (2023-12-31) as a day index.
pub(crate) const LAST_DAY: i32 = 1094;
/// First day of 2023 (PMSI year) as a day index.
pub(crate) const FIRST_DAY_2023: i32 = 730;

/// Calendar for day indices `0..=TABLE_DAYS` (2021-01-01 … early 2024).
const TABLE_DAYS: i32 = 1200;

pub(crate) struct Calendar {
    /// `YYYY-MM-DD` of each day index.
    text: Vec<[u8; 10]>,
    /// `(year, month, day)` of each day index.
    ymd: Vec<(u16, u8, u8)>,
    /// Day index of the first day of the following month.
    next_month: Vec<i32>,
    /// Day index of the last day of the month.
    month_end: Vec<i32>,
}

impl Calendar {
    pub(crate) fn new() -> Self {
        let n = (TABLE_DAYS + 1) as usize;
        let mut text = Vec::with_capacity(n);
        let mut ymd = Vec::with_capacity(n);
        let mut next_month = Vec::with_capacity(n);
        let mut month_end = Vec::with_capacity(n);
        let d0 = day0();
        for i in 0..=TABLE_DAYS {
            let d = d0 + chrono::Duration::days(i64::from(i));
            let mut t = [0u8; 10];
            write_date(&mut t, d.year() as u16, d.month() as u8, d.day() as u8);
            text.push(t);
            ymd.push((d.year() as u16, d.month() as u8, d.day() as u8));
            let (ny, nm) = if d.month() == 12 {
                (d.year() + 1, 1)
            } else {
                (d.year(), d.month() + 1)
            };
            let first_next = NaiveDate::from_ymd_opt(ny, nm, 1).unwrap_or(d);
            let idx = (first_next - d0).num_days() as i32;
            next_month.push(idx);
            month_end.push(idx - 1);
        }
        Calendar {
            text,
            ymd,
            next_month,
            month_end,
        }
    }

    #[inline]
    fn idx(day: i32) -> usize {
        day.clamp(0, TABLE_DAYS) as usize
    }
    #[inline]
    pub(crate) fn text(&self, day: i32) -> &[u8; 10] {
        &self.text[Self::idx(day)]
    }
    #[inline]
    pub(crate) fn ymd(&self, day: i32) -> (u16, u8, u8) {
        self.ymd[Self::idx(day)]
    }
    #[inline]
    pub(crate) fn month0(&self, day: i32) -> usize {
        usize::from(self.ymd[Self::idx(day)].1 - 1)
    }
    #[inline]
    pub(crate) fn next_month(&self, day: i32) -> i32 {
        self.next_month[Self::idx(day)]
    }
    #[inline]
    pub(crate) fn month_end(&self, day: i32) -> i32 {
        self.month_end[Self::idx(day)]
    }
}

fn write_date(t: &mut [u8; 10], y: u16, m: u8, d: u8) {
    t[0] = b'0' + (y / 1000 % 10) as u8;
    t[1] = b'0' + (y / 100 % 10) as u8;
    t[2] = b'0' + (y / 10 % 10) as u8;
    t[3] = b'0' + (y % 10) as u8;
    t[4] = b'-';
    t[5] = b'0' + m / 10;
    t[6] = b'0' + m % 10;
    t[7] = b'-';
    t[8] = b'0' + d / 10;
    t[9] = b'0' + d % 10;
}

/// Appends one CSV row to a byte buffer, field by field.
pub(crate) struct Row<'a> {
    buf: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Row<'a> {
    #[inline]
    pub(crate) fn new(buf: &'a mut Vec<u8>) -> Self {
        Row { buf, first: true }
    }
    #[inline]
    fn sep(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.buf.push(b',');
        }
    }
    /// A field known to need no quoting (codes, identifiers).
    #[inline]
    pub(crate) fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.sep();
        self.buf.extend_from_slice(v);
        self
    }
    /// Any text, quoted when needed (RFC 4180).
    pub(crate) fn text(&mut self, v: &str) -> &mut Self {
        self.sep();
        if v.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
            self.buf.push(b'"');
            for b in v.bytes() {
                if b == b'"' {
                    self.buf.push(b'"');
                }
                self.buf.push(b);
            }
            self.buf.push(b'"');
        } else {
            self.buf.extend_from_slice(v.as_bytes());
        }
        self
    }
    #[inline]
    pub(crate) fn empty(&mut self) -> &mut Self {
        self.sep();
        self
    }
    #[inline]
    pub(crate) fn int(&mut self, v: u64) -> &mut Self {
        self.sep();
        push_u64(self.buf, v);
        self
    }
    /// Zero-padded integer of `width` digits.
    #[inline]
    pub(crate) fn int_pad(&mut self, v: u64, width: usize) -> &mut Self {
        self.sep();
        let mut tmp = [b'0'; 20];
        let mut n = v;
        let mut i = 20;
        loop {
            i -= 1;
            tmp[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let digits = 20 - i;
        let start = if digits < width { 20 - width } else { i };
        self.buf.extend_from_slice(&tmp[start..]);
        self
    }
    /// Euros from cents, always with two decimals.
    #[inline]
    pub(crate) fn money(&mut self, cents: u64) -> &mut Self {
        self.sep();
        push_u64(self.buf, cents / 100);
        let c = (cents % 100) as u8;
        self.buf
            .extend_from_slice(&[b'.', b'0' + c / 10, b'0' + c % 10]);
        self
    }
    #[inline]
    pub(crate) fn date(&mut self, cal: &Calendar, day: i32) -> &mut Self {
        self.sep();
        self.buf.extend_from_slice(cal.text(day));
        self
    }
    #[inline]
    pub(crate) fn end(&mut self) {
        self.buf.push(b'\n');
    }
}

#[inline]
pub(crate) fn push_u64(buf: &mut Vec<u8>, v: u64) {
    let mut tmp = [0u8; 20];
    let mut n = v;
    let mut i = 20;
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar() {
        let c = Calendar::new();
        assert_eq!(c.text(0), b"2021-01-01");
        assert_eq!(c.text(LAST_DAY), b"2023-12-31");
        assert_eq!(c.text(FIRST_DAY_2023), b"2023-01-01");
        assert_eq!(c.text(c.next_month(LAST_DAY)), b"2024-01-01");
        assert_eq!(c.text(c.next_month(31)), b"2021-03-01");
        assert_eq!(c.text(c.month_end(31)), b"2021-02-28");
        assert_eq!(c.month0(31), 1);
    }

    #[test]
    fn row() {
        let mut b = Vec::new();
        Row::new(&mut b)
            .raw(b"A")
            .int(0)
            .int_pad(7, 3)
            .int_pad(12345, 3)
            .money(5)
            .money(123_456)
            .empty()
            .text("a,b \"c\"")
            .end();
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "A,0,007,12345,0.05,1234.56,,\"a,b \"\"c\"\"\"\n"
        );
    }
}
