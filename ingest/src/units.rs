//! Length units of input files. Internally every length is in metres.

use std::fmt;
use std::str::FromStr;

/// A length unit a scanner file may be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Metres.
    Metre,
    /// Centimetres.
    Centimetre,
    /// Millimetres.
    Millimetre,
    /// International inches (25.4 mm).
    Inch,
    /// International feet (0.3048 m).
    Foot,
    /// US survey feet (1200/3937 m), still used by many US state plane coordinate systems.
    UsSurveyFoot,
}

impl Unit {
    /// How many metres one of this unit is.
    #[must_use]
    pub fn metres(self) -> f64 {
        match self {
            Unit::Metre => 1.0,
            Unit::Centimetre => 0.01,
            Unit::Millimetre => 0.001,
            Unit::Inch => 0.0254,
            Unit::Foot => 0.3048,
            Unit::UsSurveyFoot => 1200.0 / 3937.0,
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::Metre => "m",
            Unit::Centimetre => "cm",
            Unit::Millimetre => "mm",
            Unit::Inch => "in",
            Unit::Foot => "ft",
            Unit::UsSurveyFoot => "us-ft",
        })
    }
}

impl FromStr for Unit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "m" => Ok(Unit::Metre),
            "cm" => Ok(Unit::Centimetre),
            "mm" => Ok(Unit::Millimetre),
            "in" => Ok(Unit::Inch),
            "ft" => Ok(Unit::Foot),
            "us-ft" => Ok(Unit::UsSurveyFoot),
            other => Err(format!(
                "unknown unit {other:?}: use m, cm, mm, in, ft or us-ft"
            )),
        }
    }
}
