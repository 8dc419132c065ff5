// Lines and markers drawn over the model: wireframe edges, cross-section outlines, measurements, annotations.

struct Lines {
    view_from_model: mat4x4<f32>,
    clip_from_view: mat4x4<f32>,
    // Colour for lines that carry none (the wireframe), linear rgba.
    color: vec4<f32>,
    // x: pull towards the camera, as a fraction of the clip depth, so lines on the surface win the depth test.
    params: vec4<f32>,
};

@group(0) @binding(0) var<uniform> lines: Lines;

struct VertexOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) color: vec4<f32>,
};

@vertex
fn vs_plain(@location(0) position: vec3<f32>) -> VertexOut {
    var out: VertexOut;
    var clip = lines.clip_from_view * (lines.view_from_model * vec4<f32>(position, 1.0));
    clip.z -= lines.params.x * clip.w;
    out.clip = clip;
    out.color = lines.color;
    return out;
}

@vertex
fn vs_colored(@location(0) position: vec3<f32>, @location(1) color: vec4<f32>) -> VertexOut {
    var out: VertexOut;
    var clip = lines.clip_from_view * (lines.view_from_model * vec4<f32>(position, 1.0));
    clip.z -= lines.params.x * clip.w;
    out.clip = clip;
    out.color = color;
    return out;
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    return in.color;
}
