"""The reference: a VAE trained the way pytorch/examples vae/main.py does it.

Same model (784-400-20, ReLU, sigmoid output), same loss (summed BCE on grey
levels + the closed-form KL), Adam 1e-3, batch 128, a per-sample Dataset
returning one float tensor per image (as torchvision's MNIST with ToTensor
does), the default DataLoader (shuffle=True, collate per batch), `.item()`
per step. torchvision is not installed here, so MNIST comes from vaelab.data.
Optional ``autocast`` runs the forward pass under bf16 autocast, the change a
user of the example would make; ``device`` moves each batch there as main.py
does with ``--cuda`` (``data.to(device)``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader


class MNISTLike(torch.utils.data.Dataset):
    """Per-sample dataset: ``__getitem__`` returns ((1, 28, 28) float tensor, label)."""

    def __init__(self, ds):
        self.images = ds.x  # (N, 1, 28, 28) float32 in [0, 1], like ToTensor()
        self.labels = ds.y

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return torch.from_numpy(self.images[i]), int(self.labels[i])


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        return mu + torch.randn_like(std) * std

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x.float(), x.view(-1, 784), reduction="sum")
    # Kingma & Welling 2014, Appendix B
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def train_epoch(model, optimizer, loader, autocast=False, device="cpu"):
    """One epoch exactly as main.py's train(); returns the mean train loss."""
    model.train()
    train_loss = 0
    device = torch.device(device)
    for data, _ in loader:
        data = data.to(device)
        optimizer.zero_grad()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            recon_batch, mu, logvar = model(data)
        loss = loss_function(recon_batch, data, mu.float(), logvar.float())
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
    return train_loss / len(loader.dataset)


def test_loss(model, loader):
    """main.py's test(): the one-sample negative ELBO per test image, in fp32."""
    model.eval()
    total = 0
    with torch.no_grad():
        for data, _ in loader:
            recon_batch, mu, logvar = model(data)
            total += loss_function(recon_batch, data, mu, logvar).item()
    return total / len(loader.dataset)


def make(train_ds, test_ds, seed=1, device="cpu"):
    """(model, optimizer, train loader, test loader) as main.py builds them."""
    torch.manual_seed(seed)
    model = VAE().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_loader = DataLoader(MNISTLike(train_ds), batch_size=128, shuffle=True)
    test_loader = DataLoader(MNISTLike(test_ds), batch_size=128, shuffle=False)
    return model, optimizer, train_loader, test_loader
