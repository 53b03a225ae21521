// Placeholder entry point until the Faster R-CNN sample lands (issue 4).
using DeFeat.Losses;
using DeFeat.Losses.Proposals;
using TorchSharp;

var loss = new DecoupledProposalKdLoss();
Console.WriteLine($"DeFeat proposal KD loss ready: {loss.Options}");
Console.WriteLine($"TorchSharp CPU tensors work: {torch.ones(2, 2).sum().ToSingle()}");
