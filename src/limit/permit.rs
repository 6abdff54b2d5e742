//! [`Permit`]: permits held from a [`Limiter`](super::Limiter).

use std::fmt;
use std::sync::Arc;

use super::limiter::Inner;

/// Permits held from a [`Limiter`](super::Limiter); released when dropped.
///
/// Owned and `Send`: move it into a spawned task and the permits are held
/// for as long as that task keeps it. A permit keeps working after the
/// limiter is closed and returns its permits normally.
///
/// # Examples
///
/// ```
/// use async_guard::limit::Limiter;
/// # futures_lite::future::block_on(async {
/// let limiter = Limiter::new(1);
/// let permit = limiter.acquire().await.unwrap();
/// let task = smol::spawn(async move {
///     let _permit = permit; // held by the task
/// });
/// task.await;
/// assert_eq!(limiter.available(), 1);
/// # });
/// ```
#[must_use = "the permits are released as soon as the permit is dropped"]
pub struct Permit {
    inner: Arc<Inner>,
    weight: usize,
}

impl Permit {
    pub(super) fn new(inner: Arc<Inner>, weight: usize) -> Self {
        Permit { inner, weight }
    }

    /// The limiter these permits belong to.
    pub(super) fn limiter(&self) -> &Inner {
        &self.inner
    }

    /// How many permits this holds.
    ///
    /// ```
    /// let l = async_guard::limit::Limiter::new(5);
    /// assert_eq!(l.try_acquire_many(2).unwrap().weight(), 2);
    /// ```
    pub fn weight(&self) -> usize {
        self.weight
    }

    /// Gives the permits up for good without returning them: the limit
    /// shrinks by this permit's weight and they no longer count as in use
    /// (so [`stats`](super::Limiter::stats) stays truthful). Raise the limit
    /// again with [`set_limit`](super::Limiter::set_limit).
    ///
    /// ```
    /// let l = async_guard::limit::Limiter::new(3);
    /// l.try_acquire().unwrap().forget();
    /// assert_eq!(l.stats().limit, 2);
    /// assert_eq!(l.stats().in_use, 0);
    /// ```
    pub fn forget(mut self) {
        let weight = std::mem::take(&mut self.weight);
        self.inner.forget(weight);
    }

    /// Splits `weight` permits off into a new permit (released separately).
    /// `None`, and nothing changes, if this permit holds fewer.
    ///
    /// ```
    /// let l = async_guard::limit::Limiter::new(5);
    /// let mut p = l.try_acquire_many(5).unwrap();
    /// let part = p.split(2).unwrap();
    /// assert_eq!((p.weight(), part.weight()), (3, 2));
    /// drop(part);
    /// assert_eq!(l.available(), 2);
    /// assert!(p.split(4).is_none());
    /// ```
    pub fn split(&mut self, weight: usize) -> Option<Permit> {
        if weight > self.weight {
            return None;
        }
        self.weight -= weight;
        Some(Permit::new(self.inner.clone(), weight))
    }

    /// Absorbs `other`'s permits into this one. Permits of a different
    /// limiter cannot merge: `other` is given back in `Err`.
    ///
    /// ```
    /// use async_guard::limit::Limiter;
    /// let l = Limiter::new(5);
    /// let mut a = l.try_acquire_many(2).unwrap();
    /// a.merge(l.try_acquire_many(3).unwrap()).unwrap();
    /// assert_eq!(a.weight(), 5);
    /// let stranger = Limiter::new(1).try_acquire().unwrap();
    /// assert!(a.merge(stranger).is_err());
    /// ```
    pub fn merge(&mut self, mut other: Permit) -> Result<(), Permit> {
        if !Arc::ptr_eq(&self.inner, &other.inner) {
            return Err(other);
        }
        // Both weights are counted in the same `in_use`, so the sum fits.
        self.weight = self
            .weight
            .saturating_add(std::mem::take(&mut other.weight));
        Ok(())
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.inner.release(self.weight);
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("weight", &self.weight)
            .finish()
    }
}
