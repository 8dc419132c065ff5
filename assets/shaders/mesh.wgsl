// The model: studio-lit surface, vertex colours, the reconstructed-surface tint, clipping planes.
// Writes the shaded colour and, for the edge pass, the view-space normal and depth.

struct Frame {
    view_from_model: mat4x4<f32>,
    clip_from_view: mat4x4<f32>,
    // Clipping planes in model space: a point p is kept where dot(plane.xyz, p) + plane.w >= 0.
    planes: array<vec4<f32>, 4>,
    // x: number of planes in use; y: shading flags (below); z, w: unused.
    counts: vec4<u32>,
    // Base colour (linear) for models without vertex colours; alpha is the X-ray opacity.
    base_color: vec4<f32>,
    // Tint for reconstructed surface (linear rgb), w: how strongly it is mixed in.
    tint: vec4<f32>,
};

// Shading flags in counts.y.
const FLAG_VERTEX_COLORS: u32 = 1u;
const FLAG_TINT_RECONSTRUCTED: u32 = 2u;
const FLAG_FLAT: u32 = 4u;
const FLAG_MATCAP: u32 = 8u;
const FLAG_XRAY: u32 = 16u;
const FLAG_HAS_NORMALS: u32 = 32u;
const FLAG_POINTS: u32 = 64u;

@group(0) @binding(0) var<uniform> frame: Frame;

struct VertexIn {
    @location(0) position: vec3<f32>,
    @location(1) normal: vec4<f32>,
    // sRGB colour; alpha carries the measured flag (1 measured, 0 filled in by reconstruction).
    @location(2) color_flag: vec4<f32>,
};

// A textured model's vertices add their texture coordinates (glTF orientation: v down from the top row).
struct TexturedVertexIn {
    @location(0) position: vec3<f32>,
    @location(1) normal: vec4<f32>,
    @location(2) color_flag: vec4<f32>,
    @location(3) uv: vec2<f32>,
};

struct VertexOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) view_position: vec3<f32>,
    @location(1) view_normal: vec3<f32>,
    @location(2) color: vec3<f32>,
    @location(3) measured: f32,
    @location(4) model_position: vec3<f32>,
    @location(5) uv: vec2<f32>,
};

// The base-colour image of the triangles being drawn: an sRGB texture (the sampler returns linear light) with
// its mipmaps. Only the textured entry points use it.
@group(1) @binding(0) var base_color_texture: texture_2d<f32>;
@group(1) @binding(1) var base_color_sampler: sampler;

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let low = c / 12.92;
    let high = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(high, low, c <= vec3<f32>(0.04045));
}

@vertex
fn vs_main(v: VertexIn) -> VertexOut {
    return transform(v);
}

fn transform(v: VertexIn) -> VertexOut {
    var out: VertexOut;
    let view = frame.view_from_model * vec4<f32>(v.position, 1.0);
    out.clip = frame.clip_from_view * view;
    out.view_position = view.xyz;
    out.view_normal = (frame.view_from_model * vec4<f32>(v.normal.xyz, 0.0)).xyz;
    out.color = srgb_to_linear(v.color_flag.rgb);
    out.measured = v.color_flag.a;
    out.model_position = v.position;
    out.uv = vec2<f32>(0.0);
    return out;
}

@vertex
fn vs_textured(v: TexturedVertexIn) -> VertexOut {
    var out = transform(VertexIn(v.position, v.normal, v.color_flag));
    out.uv = v.uv;
    return out;
}

struct FragmentOut {
    @location(0) color: vec4<f32>,
    // xyz: view-space unit normal; w: distance from the eye along the view axis.
    @location(1) normal_depth: vec4<f32>,
};

// A studio rig that shows form: a key light from the upper left, a fill from the right, a rim from behind,
// and a sky/ground ambient; all fixed to the camera, so every view of the object is lit the same way.
fn studio(n: vec3<f32>, v: vec3<f32>, albedo: vec3<f32>) -> vec3<f32> {
    let key = normalize(vec3<f32>(-0.45, 0.65, 0.62));
    let fill = normalize(vec3<f32>(0.7, 0.1, 0.7));
    let rim = normalize(vec3<f32>(0.2, 0.5, -0.85));
    let up = 0.5 + 0.5 * n.y;
    let ambient = mix(vec3<f32>(0.05, 0.05, 0.055), vec3<f32>(0.16, 0.165, 0.18), up);
    let diffuse = 0.62 * max(dot(n, key), 0.0) + 0.18 * max(dot(n, fill), 0.0) + 0.22 * max(dot(n, rim), 0.0);
    let h = normalize(key + v);
    let specular = 0.12 * pow(max(dot(n, h), 0.0), 48.0);
    return albedo * (ambient + vec3<f32>(diffuse)) + vec3<f32>(specular);
}

// A clay matcap made procedurally from the view-space normal (no texture to ship or to load).
fn matcap(n: vec3<f32>, albedo: vec3<f32>) -> vec3<f32> {
    let uv = n.xy * 0.5 + 0.5;
    let light = clamp(1.0 - distance(uv, vec2<f32>(0.35, 0.7)) * 1.1, 0.0, 1.0);
    let rim = pow(1.0 - clamp(n.z, 0.0, 1.0), 3.0);
    let shade = 0.18 + 0.75 * light * light + 0.25 * rim;
    return albedo * shade + vec3<f32>(0.25 * pow(light, 12.0));
}

@fragment
fn fs_main(in: VertexOut, @builtin(front_facing) front: bool) -> FragmentOut {
    return shade(in, front, vec3<f32>(1.0), false);
}

@fragment
fn fs_textured(in: VertexOut, @builtin(front_facing) front: bool) -> FragmentOut {
    // Sampled first, in uniform control flow (the clipping below may discard), so the mip level is well defined.
    let texel = textureSample(base_color_texture, base_color_sampler, in.uv);
    return shade(in, front, texel.rgb, true);
}

// Light one fragment. A textured surface's colour is its texel (times the vertex colour where shown).
fn shade(in: VertexOut, front: bool, texel: vec3<f32>, textured: bool) -> FragmentOut {
    for (var i = 0u; i < frame.counts.x; i++) {
        let plane = frame.planes[i];
        if (dot(plane.xyz, in.model_position) + plane.w < 0.0) {
            discard;
        }
    }
    let flags = frame.counts.y;
    // Smooth normals from the file, or flat ones from the screen-space derivatives of the position.
    let flat_normal = normalize(cross(dpdx(in.view_position), dpdy(in.view_position)));
    var n = flat_normal;
    if ((flags & FLAG_FLAT) == 0u && (flags & FLAG_HAS_NORMALS) != 0u) {
        n = normalize(in.view_normal);
    }
    let points = (flags & FLAG_POINTS) != 0u;
    if (points) {
        // A point has no surface to take derivatives of: its own normal, or facing the camera.
        n = vec3<f32>(0.0, 0.0, 1.0);
        if ((flags & FLAG_HAS_NORMALS) != 0u) {
            n = normalize(in.view_normal);
        }
    }
    // Light the side facing the camera (clipped models show their inside).
    if (!front && !points) {
        n = -n;
    }
    let v = normalize(-in.view_position);
    // With an orthographic camera the eye direction is the view axis everywhere.
    var eye = v;
    if (frame.clip_from_view[3][3] == 1.0) {
        eye = vec3<f32>(0.0, 0.0, 1.0);
    }
    var albedo = frame.base_color.rgb;
    if ((flags & FLAG_VERTEX_COLORS) != 0u) {
        albedo = in.color;
    }
    if (textured) {
        albedo = texel;
        if ((flags & FLAG_VERTEX_COLORS) != 0u) {
            albedo = texel * in.color;
        }
    }
    if ((flags & FLAG_TINT_RECONSTRUCTED) != 0u && in.measured < 0.5) {
        // Diagonal stripes in screen space, so the tint reads as "not measured" even in greyscale print.
        let stripe = step(0.5, fract((in.clip.x + in.clip.y) / 12.0));
        albedo = mix(albedo, frame.tint.rgb, frame.tint.w * (0.65 + 0.35 * stripe));
    }
    var lit: vec3<f32>;
    if (points && (flags & FLAG_HAS_NORMALS) == 0u) {
        // Points without normals cannot be lit: shown in their own colour.
        lit = albedo;
    } else if ((flags & FLAG_MATCAP) != 0u) {
        lit = matcap(n, albedo);
    } else {
        lit = studio(n, eye, albedo);
    }
    if (!front && !points) {
        // Inside faces seen through a cut are darker, so the cut reads as a cut.
        lit *= 0.45;
    }
    var out: FragmentOut;
    var alpha = 1.0;
    if ((flags & FLAG_XRAY) != 0u) {
        // X-ray: surfaces seen edge-on are more opaque than those facing the viewer.
        let facing = abs(dot(n, eye));
        alpha = mix(frame.base_color.a * 2.5, frame.base_color.a * 0.5, facing);
    }
    out.color = vec4<f32>(lit, clamp(alpha, 0.0, 1.0));
    out.normal_depth = vec4<f32>(n, -in.view_position.z);
    return out;
}
