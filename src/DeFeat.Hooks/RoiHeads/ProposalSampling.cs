namespace DeFeat.Hooks.RoiHeads;

/// <summary>Whose sampler picks the proposals both RoI heads are compared on.</summary>
public enum ProposalSampling
{
    /// <summary>
    /// The teacher's (DeFeat's default): the teacher runs first; its RoI head's RoIs and labels are substituted into
    /// the student's RoI head. The student's own RoI-head loss then also uses them.
    /// </summary>
    Teacher,

    /// <summary>
    /// The student's: the student runs first; its RoI head's RoIs and labels are substituted into the teacher's RoI
    /// head, which is thus re-run on the student's proposals.
    /// </summary>
    Student,
}
