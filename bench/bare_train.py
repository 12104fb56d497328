"""The default vgx experiment written as a bare PyTorch script: no probes, no tracking, no Hydra.

The baseline that `bench/single_run.py` times `vgx train` against.
"""

import torch
from sklearn.datasets import make_moons
from torch import nn

x, y = make_moons(n_samples=250, noise=0.05, random_state=42)
x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
order = torch.randperm(250, generator=torch.Generator().manual_seed(42))
x_train, y_train = x[order[:150]], y[order[:150]]

torch.manual_seed(0)
layers: list[nn.Module] = []
for n_in in [2] + [10] * 7:
    layers += [nn.Linear(n_in, 10), nn.Sigmoid()]
model = nn.Sequential(*layers, nn.Linear(10, 1))
for module in model:
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.BCEWithLogitsLoss()
shuffle = torch.Generator().manual_seed(0)
for _epoch in range(100):
    for idx in torch.randperm(150, generator=shuffle).split(32):
        optimizer.zero_grad()
        loss_fn(model(x_train[idx]).squeeze(1), y_train[idx]).backward()
        optimizer.step()
print(f"final train loss {float(loss_fn(model(x_train).squeeze(1), y_train)):.4f}")
