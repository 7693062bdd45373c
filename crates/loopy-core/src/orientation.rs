//! How a clip's stored pictures are meant to be shown. Phone video is stored in the
//! sensor's orientation and carries a display matrix saying how to turn it; players
//! honour it, so Loopy must too (in the displayed size, signatures, scaling and the
//! copy decision).
//!
//! Only quarter turns and mirrors are kept: the matrix is reduced to the signs of its
//! 2×2 part, `[a b; c d]`, which maps a stored pixel `(p, q)` (x right, y down) to
//! the displayed `(a·p + c·q, b·p + d·q)`, shifted back into the picture. This is
//! FFmpeg's display-matrix convention.

use serde::{Deserialize, Serialize};

/// A quarter-turn rotation, possibly mirrored, as a signed permutation matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Orientation {
    pub a: i8,
    pub b: i8,
    pub c: i8,
    pub d: i8,
}

impl Default for Orientation {
    fn default() -> Self {
        Orientation::IDENTITY
    }
}

impl Orientation {
    pub const IDENTITY: Orientation = Orientation {
        a: 1,
        b: 0,
        c: 0,
        d: 1,
    };

    /// From FFmpeg's 3×3 display matrix (16.16 fixed point, row-major). `None` when
    /// it is not a quarter turn or mirror (an arbitrary angle, a shear, all zeros).
    pub fn from_display_matrix(m: &[i32; 9]) -> Option<Orientation> {
        let sign = |v: i32| -> i8 {
            // Anything under half the unit (0.5 in 16.16) counts as zero.
            if v > 1 << 15 {
                1
            } else if v < -(1 << 15) {
                -1
            } else {
                0
            }
        };
        let o = Orientation {
            a: sign(m[0]),
            b: sign(m[1]),
            c: sign(m[3]),
            d: sign(m[4]),
        };
        o.is_valid().then_some(o)
    }

    /// Exactly one non-zero entry in each row and column.
    fn is_valid(&self) -> bool {
        let axis_aligned = self.b == 0 && self.c == 0 && self.a != 0 && self.d != 0;
        let swapped = self.a == 0 && self.d == 0 && self.b != 0 && self.c != 0;
        axis_aligned || swapped
    }

    pub fn is_identity(&self) -> bool {
        *self == Orientation::IDENTITY
    }

    /// Width and height trade places (a quarter turn).
    pub fn swaps_axes(&self) -> bool {
        self.a == 0
    }

    /// The displayed size of a stored `(w, h)` picture.
    pub fn displayed(&self, (w, h): (u32, u32)) -> (u32, u32) {
        if self.swaps_axes() {
            (h, w)
        } else {
            (w, h)
        }
    }

    /// Where stored pixel `(p, q)` of a `w`×`h` plane lands in the displayed plane.
    pub fn map(&self, (p, q): (usize, usize), (w, h): (usize, usize)) -> (usize, usize) {
        let (dw, dh) = if self.swaps_axes() { (h, w) } else { (w, h) };
        // One coefficient is ±1, the other 0; a negative one counts from the far edge.
        let axis = |sx: i8, sy: i8, extent: usize| -> usize {
            let v = sx as isize * p as isize + sy as isize * q as isize;
            if sx < 0 || sy < 0 {
                (extent as isize - 1 + v) as usize
            } else {
                v as usize
            }
        };
        (axis(self.a, self.c, dw), axis(self.b, self.d, dh))
    }

    /// Clockwise degrees and whether the picture is mirrored, for people.
    pub fn describe(&self) -> String {
        let mirrored = (self.a as i32 * self.d as i32 - self.b as i32 * self.c as i32) < 0;
        // The image of the x axis, (a, b), tells the turn (y down, clockwise positive);
        // a mirrored matrix is read as a turn followed by a horizontal flip.
        let x_image = if mirrored {
            (-self.a, self.b)
        } else {
            (self.a, self.b)
        };
        let degrees = match x_image {
            (1, 0) => 0,
            (0, 1) => 90,
            (-1, 0) => 180,
            _ => 270,
        };
        match (degrees, mirrored) {
            (0, false) => "upright".into(),
            (d, false) => format!("rotated {d}°"),
            (0, true) => "mirrored".into(),
            (d, true) => format!("rotated {d}° and mirrored"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FFmpeg's av_display_rotation_set for a clockwise `degrees` display rotation.
    fn matrix_for_clockwise(degrees: f64) -> [i32; 9] {
        let r = (-degrees).to_radians();
        let (c, s) = (r.cos(), r.sin());
        let fixed = |v: f64| (v * 65536.0).round() as i32;
        [fixed(c), fixed(-s), 0, fixed(s), fixed(c), 0, 0, 0, 1 << 30]
    }

    #[test]
    fn quarter_turns() {
        let o = Orientation::from_display_matrix(&matrix_for_clockwise(90.0)).unwrap();
        assert!(o.swaps_axes());
        assert_eq!(o.describe(), "rotated 90°");
        assert_eq!(o.displayed((640, 360)), (360, 640));
        // Clockwise: the stored top-left corner lands top-right.
        assert_eq!(o.map((0, 0), (640, 360)), (359, 0));
        assert_eq!(o.map((639, 0), (640, 360)), (359, 639));
        let half = Orientation::from_display_matrix(&matrix_for_clockwise(180.0)).unwrap();
        assert_eq!(half.map((0, 0), (4, 2)), (3, 1));
        let three = Orientation::from_display_matrix(&matrix_for_clockwise(270.0)).unwrap();
        assert_eq!(three.describe(), "rotated 270°");
        assert_eq!(three.map((0, 0), (640, 360)), (0, 639));
        assert!(Orientation::from_display_matrix(&matrix_for_clockwise(0.0))
            .unwrap()
            .is_identity());
        assert_eq!(
            Orientation::from_display_matrix(&matrix_for_clockwise(45.0)),
            None
        );
    }

    #[test]
    fn a_mirror_flips_columns() {
        let mut m = matrix_for_clockwise(0.0);
        m[0] = -m[0];
        let o = Orientation::from_display_matrix(&m).unwrap();
        assert_eq!(o.describe(), "mirrored");
        assert_eq!(o.map((0, 5), (10, 10)), (9, 5));
    }
}
