//! An exact frame rate, and the frame <-> second arithmetic every frame-exact step shares.
//!
//! Why its own module: a rate like 29.97 is 30000/1001, and a float of it loses frames over a
//! long timeline; the renderer and the single-step operations both count frames with it.

/// An exact frame rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Frames per `den` seconds.
    pub num: u32,
    /// Seconds the numerator counts over.
    pub den: u32,
}

impl Rate {
    /// The exact rate a float names (integers, NTSC x/1.001 rates, else millihertz).
    pub fn from_f64(fps: f64) -> Self {
        if (fps - fps.round()).abs() < 1e-6 {
            return Self { num: fps.round() as u32, den: 1 };
        }
        let ntsc = fps * 1.001;
        if (ntsc - ntsc.round()).abs() < 0.005 {
            return Self { num: ntsc.round() as u32 * 1000, den: 1001 };
        }
        Self { num: (fps * 1000.0).round() as u32, den: 1000 }
    }

    /// Frames per second as a float.
    pub fn value(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }

    /// Whole frames in `seconds` (rounded).
    pub fn frames(self, seconds: f64) -> u64 {
        (seconds * self.value()).round().max(0.0) as u64
    }

    /// The time of frame `frames`.
    pub fn seconds(self, frames: u64) -> f64 {
        frames as f64 * f64::from(self.den) / f64::from(self.num)
    }

    /// The rate as ffmpeg writes it (`30`, `30000/1001`).
    pub fn expr(self) -> String {
        if self.den == 1 { self.num.to_string() } else { format!("{}/{}", self.num, self.den) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_exact() {
        assert_eq!(Rate::from_f64(30.0), Rate { num: 30, den: 1 });
        assert_eq!(Rate::from_f64(29.97), Rate { num: 30000, den: 1001 });
        assert_eq!(Rate::from_f64(12.5), Rate { num: 12500, den: 1000 });
        assert_eq!(Rate { num: 30, den: 1 }.frames(0.5), 15);
    }
}
