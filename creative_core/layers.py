"""Find the layer a scheme hooks into, by qualified module name or by index among the decoder's hidden layers.

Our VAEs list their hidden activations in `model.hidden_layers`. For any other module (a GAN generator, someone
else's decoder) the hidden layers are its ReLU-family activation modules in registration order, under
`model.decoder` when there is one. Indices are 0-based and may be negative; the default is index 2, the paper's
"decoder's 3rd hidden layer" (the 1000-unit layer of the MLP VAE), or the last hidden layer when there are fewer.
"""

from __future__ import annotations

from torch import nn

ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.ReLU6, nn.ELU, nn.GELU, nn.SiLU, nn.PReLU, nn.CELU, nn.SELU)
DEFAULT_INDEX = 2


def hidden_layer_names(model: nn.Module) -> list[str]:
    if hasattr(model, "hidden_layers"):
        return list(model.hidden_layers)
    prefix, root = ("decoder.", model.decoder) if isinstance(getattr(model, "decoder", None), nn.Module) else ("", model)
    return [prefix + n for n, m in root.named_modules() if isinstance(m, ACTIVATIONS)]


def resolve_layer(model: nn.Module, layer: str | int | None = None) -> tuple[str, nn.Module]:
    """(qualified name, module) of the requested layer; ValueError listing the choices when it is not found."""
    names = hidden_layer_names(model)
    if layer is None:
        if not names:
            raise ValueError("the model has no hidden activation layers; name a layer explicitly")
        layer = DEFAULT_INDEX if len(names) > DEFAULT_INDEX else len(names) - 1
    if isinstance(layer, int):
        try:
            layer = names[layer]
        except IndexError:
            raise ValueError(f"layer index {layer} out of range; hidden layers: {names}") from None
    modules = dict(model.named_modules())
    if layer not in modules:
        raise ValueError(f"no layer named {layer!r}; hidden layers: {names}")
    return layer, modules[layer]


def layer_size(model: nn.Module, layer: str | int | None = None) -> int:
    """Units (features, or channels) of a hidden layer, from decoding one latent: no data needed."""
    import torch

    _name, module = resolve_layer(model, layer)
    seen: list[int] = []
    handle = module.register_forward_hook(lambda _m, _i, h: seen.append(int(h.shape[1])))
    try:
        with torch.no_grad():
            param = next(model.parameters())
            model.decode(torch.zeros(1, int(model.latent_dim), device=param.device, dtype=param.dtype))
    finally:
        handle.remove()
    if not seen:
        raise ValueError(f"layer {_name!r} is not used when decoding; pick a decoder layer")
    return seen[0]
