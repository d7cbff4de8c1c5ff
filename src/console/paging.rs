//! Pages of a console list: which slice of rows a request asks for (`?page=&size=`) and the
//! links to the slices around it. Sizes follow Kong's Admin API (100 rows by default, at most
//! 1000), so a console page shows the slice `GET /routes` would. No markup here: the links are
//! drawn by `_pager.html`.

use serde::Deserialize;

/// Kong's default page size.
pub const DEFAULT_SIZE: u64 = 100;
/// Kong's largest page size.
pub const MAX_SIZE: u64 = 1000;

/// The query parameters a paged list reads (besides its own, such as a filter).
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    #[serde(default)]
    pub page: Option<String>,
    #[serde(default)]
    pub size: Option<String>,
}

/// One page of a list: where it starts, how many rows, how many in all, and the list's URL
/// with its other parameters (a filter) kept in the page links.
#[derive(Debug, Clone)]
pub struct Pager {
    pub page: u64,
    pub size: u64,
    pub total: u64,
    /// The list's path and query without `page`/`size` (`/services?q=pay`).
    base: String,
}

impl Pager {
    /// The page a request asks for; anything unreadable falls back to the first page of the
    /// default size, and sizes are held to 1..=1000.
    pub fn new(params: &PageParams, path: &str, keep: &[(&str, &str)]) -> Pager {
        let page = params
            .page
            .as_deref()
            .and_then(|p| p.trim().parse::<u64>().ok())
            .filter(|p| *p >= 1)
            .unwrap_or(1);
        let size = params
            .size
            .as_deref()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(|s| s.clamp(1, MAX_SIZE))
            .unwrap_or(DEFAULT_SIZE);
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(keep.iter().filter(|(_, v)| !v.is_empty()))
            .finish();
        let base = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        };
        Pager {
            page,
            size,
            total: 0,
            base,
        }
    }

    /// Rows to skip.
    pub fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(self.size)
    }

    /// This page's rows out of all of them (lists held in memory).
    pub fn slice<T>(&mut self, all: Vec<T>) -> Vec<T> {
        self.total = all.len() as u64;
        let start = usize::try_from(self.offset()).unwrap_or(usize::MAX);
        all.into_iter()
            .skip(start)
            .take(usize::try_from(self.size).unwrap_or(usize::MAX))
            .collect()
    }

    pub fn pages(&self) -> u64 {
        self.total.div_ceil(self.size).max(1)
    }

    /// The first and last row numbers shown (1-based), `None` on an empty page.
    pub fn shown(&self) -> Option<(u64, u64)> {
        let first = self.offset() + 1;
        let last = (self.offset() + self.size).min(self.total);
        (first <= last).then_some((first, last))
    }

    fn link(&self, page: u64) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        if self.size == DEFAULT_SIZE {
            format!("{}{sep}page={page}", self.base)
        } else {
            format!("{}{sep}page={page}&size={}", self.base, self.size)
        }
    }

    pub fn prev(&self) -> Option<String> {
        (self.page > 1).then(|| self.link((self.page - 1).min(self.pages())))
    }

    pub fn next(&self) -> Option<String> {
        (self.page < self.pages()).then(|| self.link(self.page + 1))
    }

    /// Whether there is more than one page (the pager is drawn only then).
    pub fn needed(&self) -> bool {
        self.total > self.size || self.page > 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(page: &str, size: &str) -> PageParams {
        PageParams {
            page: Some(page.into()),
            size: Some(size.into()),
        }
    }

    #[test]
    fn kong_sizes_and_links_that_keep_the_filter() {
        let mut p = Pager::new(&PageParams::default(), "/x", &[("q", "a b")]);
        assert_eq!((p.page, p.size), (1, DEFAULT_SIZE));
        let rows: Vec<u32> = (0..250).collect();
        assert_eq!(p.slice(rows.clone()).len(), 100);
        assert_eq!(p.pages(), 3);
        assert_eq!(p.next().as_deref(), Some("/x?q=a+b&page=2"));
        assert_eq!(p.prev(), None);
        let mut p = Pager::new(&params("3", "100"), "/x", &[("q", "")]);
        assert_eq!(p.slice(rows.clone()), (200..250).collect::<Vec<_>>());
        assert_eq!(p.shown(), Some((201, 250)));
        assert_eq!(p.prev().as_deref(), Some("/x?page=2"));
        assert_eq!(p.next(), None);
        let p = Pager::new(&params("0", "5000"), "/x", &[]);
        assert_eq!((p.page, p.size), (1, MAX_SIZE));
        let mut p = Pager::new(&params("x", "7"), "/x", &[]);
        p.slice(rows);
        assert_eq!(p.next().as_deref(), Some("/x?page=2&size=7"));
    }
}
