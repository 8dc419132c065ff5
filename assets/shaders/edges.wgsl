// Silhouette and crease lines: a full-screen pass over the normal/depth target that darkens pixels where
// depth jumps (silhouettes, outlines) or the normal turns sharply (creases). Drawn over the shaded colour.

struct Edges {
    // x: depth jump, relative to the depth, that counts as an outline; y: normal change (1 - cos) that counts
    // as a crease; z: line opacity; w: unused.
    params: vec4<f32>,
    color: vec4<f32>,
};

@group(0) @binding(0) var normal_depth: texture_2d<f32>;
@group(0) @binding(1) var<uniform> edges: Edges;

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> @builtin(position) vec4<f32> {
    // One triangle that covers the screen.
    let x = f32((index << 1u) & 2u) * 2.0 - 1.0;
    let y = f32(index & 2u) * 2.0 - 1.0;
    return vec4<f32>(x, y, 0.0, 1.0);
}

fn sample(p: vec2<i32>) -> vec4<f32> {
    let size = vec2<i32>(textureDimensions(normal_depth));
    return textureLoad(normal_depth, clamp(p, vec2<i32>(0), size - vec2<i32>(1)), 0);
}

@fragment
fn fs_main(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    let p = vec2<i32>(position.xy);
    let center = sample(p);
    let offsets = array<vec2<i32>, 4>(vec2<i32>(1, 0), vec2<i32>(-1, 0), vec2<i32>(0, 1), vec2<i32>(0, -1));
    var strength = 0.0;
    for (var i = 0; i < 4; i++) {
        let other = sample(p + offsets[i]);
        // Background has depth 0: a step between object and background is an outline.
        let d0 = center.w;
        let d1 = other.w;
        let near = max(min(d0, d1), 1e-6);
        let far = max(d0, d1);
        if (min(d0, d1) <= 0.0 && far > 0.0) {
            strength = 1.0;
        } else if (d0 > 0.0 && (far - near) / near > edges.params.x) {
            strength = max(strength, 1.0);
        } else if (d0 > 0.0 && d1 > 0.0) {
            let turn = 1.0 - dot(center.xyz, other.xyz);
            strength = max(strength, smoothstep(edges.params.y, edges.params.y * 2.0, turn));
        }
    }
    return vec4<f32>(edges.color.rgb, strength * edges.params.z);
}
