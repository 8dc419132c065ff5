//! The camera: orbit, pan and zoom around a target, the six standard views of design-patent drawings plus an
//! isometric one, orthographic or perspective projection, and fitting a model into the view.
//!
//! Everything is in the model's frame (metres, glTF axes: +Y up, the front faces +Z) and in `f64`, so that
//! picking rays are exact; the GPU gets `f32` matrices.

use glam::{DMat4, DQuat, DVec3, Mat4};
use serde::{Deserialize, Serialize};

/// A standard view: where the camera stands relative to the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StandardView {
    /// From the front (+Z), looking back.
    Front,
    /// From the back (−Z).
    Back,
    /// From the object's left (−X).
    Left,
    /// From the object's right (+X).
    Right,
    /// From above (+Y), the front at the bottom of the picture.
    Top,
    /// From below (−Y), the front at the top of the picture.
    Bottom,
    /// From above, right and front, at equal angles to the three axes.
    Iso,
}

impl StandardView {
    /// The six views of a design-patent drawing, in the order they are usually laid out, then the isometric one.
    pub const ALL: [Self; 7] = [
        Self::Front,
        Self::Back,
        Self::Left,
        Self::Right,
        Self::Top,
        Self::Bottom,
        Self::Iso,
    ];

    /// The lowercase name the command line uses.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Front => "front",
            Self::Back => "back",
            Self::Left => "left",
            Self::Right => "right",
            Self::Top => "top",
            Self::Bottom => "bottom",
            Self::Iso => "iso",
        }
    }

    /// Parse a name as [`Self::name`] writes it.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }

    /// The camera's orientation: camera space (looking along −Z, +Y up) to model space.
    #[must_use]
    pub fn orientation(self) -> DQuat {
        use std::f64::consts::{FRAC_PI_2, PI};
        match self {
            Self::Front => DQuat::IDENTITY,
            Self::Back => DQuat::from_rotation_y(PI),
            Self::Right => DQuat::from_rotation_y(FRAC_PI_2),
            Self::Left => DQuat::from_rotation_y(-FRAC_PI_2),
            Self::Top => DQuat::from_rotation_x(-FRAC_PI_2),
            Self::Bottom => DQuat::from_rotation_x(FRAC_PI_2),
            // Pitch down by atan(1/√2) after turning 45°: the camera looks along (−1, −1, −1).
            Self::Iso => {
                DQuat::from_rotation_y(PI / 4.0)
                    * DQuat::from_rotation_x(-(1.0f64 / 2.0f64.sqrt()).atan())
            }
        }
    }
}

/// How the scene is projected onto the picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Projection {
    /// Parallel projection: sizes do not depend on depth, so a scale bar holds everywhere (patent drawings).
    Orthographic,
    /// Central projection, as the eye sees.
    Perspective,
}

/// A camera looking at `target` from `distance` along its orientation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Camera {
    /// The point orbited around and looked at, in model metres.
    pub target: [f64; 3],
    /// Camera space to model space.
    pub orientation: [f64; 4],
    /// From the eye to the target, metres.
    pub distance: f64,
    /// Half the visible height at the target, metres (both projections: perspective derives its field from it).
    pub half_height: f64,
    /// Vertical field of view for perspective, radians.
    pub fov_y: f64,
    /// Orthographic or perspective.
    pub projection: Projection,
    /// Radius of the scene around the target, metres: sets the depth range.
    pub scene_radius: f64,
}

/// The matrices for one frame.
#[derive(Clone, Copy, Debug)]
pub struct Matrices {
    /// Model to view (camera) space.
    pub view_from_model: DMat4,
    /// View space to clip space (wgpu: z in 0..1).
    pub clip_from_view: DMat4,
}

impl Matrices {
    /// Model to clip space.
    #[must_use]
    pub fn clip_from_model(&self) -> DMat4 {
        self.clip_from_view * self.view_from_model
    }

    /// The `f32` copies the shaders take.
    #[must_use]
    pub fn to_f32(&self) -> (Mat4, Mat4) {
        (
            self.view_from_model.as_mat4(),
            self.clip_from_view.as_mat4(),
        )
    }
}

impl Camera {
    /// A camera for `view`, fitted to the points `positions` (model frame) for a picture of `aspect` = width / height.
    #[must_use]
    pub fn fitted(
        view: StandardView,
        projection: Projection,
        positions: &[[f32; 3]],
        aspect: f64,
    ) -> Self {
        let mut camera = Self {
            target: [0.0; 3],
            orientation: view.orientation().to_array(),
            distance: 1.0,
            half_height: 1.0,
            fov_y: 30f64.to_radians(),
            projection,
            scene_radius: 1.0,
        };
        camera.fit(positions, aspect);
        camera
    }

    /// The orientation as a quaternion.
    #[must_use]
    pub fn rotation(&self) -> DQuat {
        DQuat::from_array(self.orientation).normalize()
    }

    /// Where the eye is, model frame.
    #[must_use]
    pub fn eye(&self) -> DVec3 {
        DVec3::from(self.target) + self.rotation() * DVec3::Z * self.distance
    }

    /// Keep the orientation and projection; move the target and zoom so that every point is in view with a
    /// small margin. Points are sampled (at most about 200,000) for large models.
    pub fn fit(&mut self, positions: &[[f32; 3]], aspect: f64) {
        let rotation = self.rotation();
        let (right, up, back) = (
            rotation * DVec3::X,
            rotation * DVec3::Y,
            rotation * DVec3::Z,
        );
        let stride = (positions.len() / 200_000).max(1);
        let mut low = DVec3::splat(f64::INFINITY);
        let mut high = DVec3::splat(f64::NEG_INFINITY);
        let (mut box_low, mut box_high) = (low, high);
        for p in positions.iter().step_by(stride) {
            let p = DVec3::new(f64::from(p[0]), f64::from(p[1]), f64::from(p[2]));
            let q = DVec3::new(p.dot(right), p.dot(up), p.dot(back));
            low = low.min(q);
            high = high.max(q);
            box_low = box_low.min(p);
            box_high = box_high.max(p);
        }
        if !low.is_finite() {
            return;
        }
        let middle = (low + high) * 0.5;
        let extent = (high - low) * 0.5;
        self.target = (right * middle.x + up * middle.y + back * middle.z).to_array();
        self.scene_radius = ((box_high - box_low) * 0.5).length().max(1e-6);
        let margin = 1.08;
        match self.projection {
            Projection::Orthographic => {
                self.half_height = (extent.y.max(extent.x / aspect) * margin).max(1e-6);
                // Far enough that nothing is behind the eye.
                self.distance = extent.z * 2.0 + self.scene_radius;
            }
            Projection::Perspective => {
                // The nearest distance from which every point is inside the frustum: a point at depth z
                // (towards the eye) and offsets x, y from the axis needs d >= z + |y| / tan(fov/2) and
                // d >= z + |x| / (tan(fov/2) * aspect).
                let tan = (self.fov_y * 0.5).tan();
                let mut distance = 0.0f64;
                for p in positions.iter().step_by(stride) {
                    let p = DVec3::new(f64::from(p[0]), f64::from(p[1]), f64::from(p[2]))
                        - DVec3::from(self.target);
                    let (x, y, z) = (p.dot(right), p.dot(up), p.dot(back));
                    distance =
                        distance.max(z + (y.abs() / tan).max(x.abs() / (tan * aspect)) * margin);
                }
                self.distance = distance.max(self.scene_radius * 0.1);
                self.half_height = self.distance * tan;
            }
        }
    }

    /// Rotate around the target: `yaw` about the model's up axis, `pitch` about the camera's right axis (radians).
    pub fn orbit(&mut self, yaw: f64, pitch: f64) {
        let rotation = self.rotation();
        let turned = DQuat::from_rotation_y(yaw) * rotation * DQuat::from_rotation_x(pitch);
        self.orientation = turned.normalize().to_array();
    }

    /// Move the target in the picture plane by a fraction of the visible height (`dx` right, `dy` up).
    pub fn pan(&mut self, dx: f64, dy: f64) {
        let rotation = self.rotation();
        let shift = (rotation * DVec3::X * dx + rotation * DVec3::Y * dy) * self.half_height * 2.0;
        self.target = (DVec3::from(self.target) + shift).to_array();
    }

    /// Zoom by `factor` (> 1 brings the object closer), towards the target.
    pub fn zoom(&mut self, factor: f64) {
        let factor = factor.clamp(1e-3, 1e3);
        let before = self.half_height;
        self.half_height = (self.half_height / factor).max(1e-7);
        if self.projection == Projection::Perspective {
            self.distance = (self.distance
                - (before - self.half_height) / (self.fov_y * 0.5).tan())
            .max(self.scene_radius * 1e-3);
        }
    }

    /// The matrices for a picture of `aspect` = width / height.
    #[must_use]
    pub fn matrices(&self, aspect: f64) -> Matrices {
        let eye = self.eye();
        let rotation = self.rotation();
        // The camera's pose in the model, inverted: a rigid motion, so the inverse is exact up to rounding.
        let view_from_model = DMat4::from_rotation_translation(rotation, eye).inverse();
        // Depth range: the whole scene around the target, wherever the eye is.
        let reach = self.scene_radius * 2.5 + DVec3::from(self.target).length() * 1e-6;
        let far = self.distance + reach;
        let clip_from_view = match self.projection {
            Projection::Orthographic => {
                let near = self.distance - reach;
                let (h, w) = (self.half_height, self.half_height * aspect);
                orthographic(-w, w, -h, h, near, far)
            }
            Projection::Perspective => {
                let near = (self.distance - reach).max(far * 1e-4);
                let fov = 2.0 * (self.half_height / self.distance).atan();
                perspective(fov, aspect, near, far)
            }
        };
        Matrices {
            view_from_model,
            clip_from_view,
        }
    }

    /// The ray through a point of the picture, `x` and `y` in 0..1 from the top left: origin and direction in
    /// model space (the direction is not normalized).
    #[must_use]
    pub fn ray(&self, x: f64, y: f64, aspect: f64) -> ([f64; 3], [f64; 3]) {
        let rotation = self.rotation();
        let (right, up, back) = (
            rotation * DVec3::X,
            rotation * DVec3::Y,
            rotation * DVec3::Z,
        );
        let sx = (x * 2.0 - 1.0) * self.half_height * aspect;
        let sy = (1.0 - y * 2.0) * self.half_height;
        let eye = self.eye();
        match self.projection {
            Projection::Orthographic => {
                let origin = eye + right * sx + up * sy;
                (origin.to_array(), (-back).to_array())
            }
            Projection::Perspective => {
                let at_target = DVec3::from(self.target) + right * sx + up * sy;
                (eye.to_array(), (at_target - eye).to_array())
            }
        }
    }

    /// Metres per pixel at the target for a picture `height` pixels high (exact everywhere for orthographic).
    #[must_use]
    pub fn metres_per_pixel(&self, height: u32) -> f64 {
        self.half_height * 2.0 / f64::from(height.max(1))
    }
}

/// Right-handed orthographic projection to wgpu's clip space (z from 0 at `near` to 1 at `far`).
fn orthographic(left: f64, right: f64, bottom: f64, top: f64, near: f64, far: f64) -> DMat4 {
    let rcp_width = 1.0 / (right - left);
    let rcp_height = 1.0 / (top - bottom);
    let r = 1.0 / (near - far);
    DMat4::from_cols_array(&[
        2.0 * rcp_width,
        0.0,
        0.0,
        0.0,
        0.0,
        2.0 * rcp_height,
        0.0,
        0.0,
        0.0,
        0.0,
        r,
        0.0,
        -(left + right) * rcp_width,
        -(top + bottom) * rcp_height,
        r * near,
        1.0,
    ])
}

/// Right-handed perspective projection to wgpu's clip space (z from 0 at `near` to 1 at `far`).
fn perspective(fov_y: f64, aspect: f64, near: f64, far: f64) -> DMat4 {
    let h = 1.0 / (fov_y * 0.5).tan();
    let w = h / aspect;
    let r = far / (near - far);
    DMat4::from_cols_array(&[
        w,
        0.0,
        0.0,
        0.0,
        0.0,
        h,
        0.0,
        0.0,
        0.0,
        0.0,
        r,
        -1.0,
        0.0,
        0.0,
        r * near,
        0.0,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cube() -> Vec<[f32; 3]> {
        (0..8)
            .map(|i| [0, 1, 2].map(|a| if (i >> a) & 1 == 1 { 0.05 } else { -0.05 }))
            .collect()
    }

    #[test]
    fn standard_views_look_where_their_names_say() {
        let looks = |v: StandardView| v.orientation() * DVec3::NEG_Z;
        let close = |a: DVec3, b: DVec3| (a - b).length() < 1e-12;
        assert!(close(looks(StandardView::Front), DVec3::NEG_Z));
        assert!(close(looks(StandardView::Back), DVec3::Z));
        assert!(close(looks(StandardView::Right), DVec3::NEG_X));
        assert!(close(looks(StandardView::Left), DVec3::X));
        assert!(close(looks(StandardView::Top), DVec3::NEG_Y));
        assert!(close(looks(StandardView::Bottom), DVec3::Y));
        assert!(close(
            looks(StandardView::Iso),
            DVec3::splat(-1.0).normalize()
        ));
        // The top view has the object's front (+Z) at the bottom of the picture.
        assert!(close(
            StandardView::Top.orientation() * DVec3::Y,
            DVec3::NEG_Z
        ));
        for view in StandardView::ALL {
            assert_eq!(StandardView::from_name(view.name()), Some(view));
        }
    }

    #[test]
    fn a_fitted_cube_fills_the_picture_and_projects_inside_it() {
        for projection in [Projection::Orthographic, Projection::Perspective] {
            for view in StandardView::ALL {
                let camera = Camera::fitted(view, projection, &cube(), 16.0 / 9.0);
                let m = camera.matrices(16.0 / 9.0).clip_from_model();
                let mut extent = 0.0f64;
                for p in cube() {
                    let c = m * DVec3::from(p.map(f64::from)).extend(1.0);
                    let ndc = c.truncate() / c.w;
                    assert!(
                        ndc.z > 0.0 && ndc.z < 1.0,
                        "{view:?} {projection:?} depth {ndc}"
                    );
                    assert!(ndc.x.abs() <= 1.0 && ndc.y.abs() <= 1.0, "{view:?} {ndc}");
                    extent = extent.max(ndc.y.abs());
                }
                assert!(extent > 0.85, "{view:?} {projection:?} fills only {extent}");
            }
        }
    }

    #[test]
    fn the_centre_ray_hits_the_target_and_orbit_keeps_the_distance() {
        let mut camera = Camera::fitted(StandardView::Front, Projection::Perspective, &cube(), 1.0);
        let (origin, direction) = camera.ray(0.5, 0.5, 1.0);
        let direction = DVec3::from(direction).normalize();
        let to_target = DVec3::from(camera.target) - DVec3::from(origin);
        assert!((to_target.normalize() - direction).length() < 1e-12);
        let before = (camera.eye() - DVec3::from(camera.target)).length();
        camera.orbit(0.3, -0.2);
        camera.pan(0.1, 0.0);
        let after = (camera.eye() - DVec3::from(camera.target)).length();
        assert!((before - after).abs() < 1e-12);
        // An orthographic picture 1000 px high shows 2 × half_height metres.
        let ortho = Camera::fitted(StandardView::Front, Projection::Orthographic, &cube(), 1.0);
        assert!((ortho.metres_per_pixel(1000) * 1000.0 - 0.1 * 1.08).abs() < 1e-6);
    }
}
