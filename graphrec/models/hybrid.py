"""A hybrid of two closed-form models (issue 31): each user's scores from both, standardised per user, mixed with a
weight chosen on the validation holdout (:class:`Hybrid`)."""

from __future__ import annotations

import torch
from torch import Tensor

from graphrec.errors import ModelError
from graphrec.models.closed import ClosedFormRecommender
from graphrec.progress import Progress, silent

NORMALISATIONS = ("zscore", "max", "none")


class Hybrid(ClosedFormRecommender):
    """Per-user standardised scores of two closed-form models, mixed by ``weight`` (on the second).

    ``score(u) = (1 − weight) · z(first(u)) + weight · z(second(u))``, where z standardises a user's row over the items
    the user has not interacted with (minus their mean, over their standard deviation; ``normalise='max'`` divides by
    the largest magnitude instead). Per user because the models' raw scores differ in scale between models (a filtered
    0/1 signal, a path count, a regression output) and, for one model, between users with few and many items, so one
    global weight would be a different mix for each user. The user's own training items are left out of the
    statistics: a filter's self-loop scores them far above the rest, and ranking masks them anyway; so is an item a
    model cannot score (EASE^R's ``max_items`` cut). ``first_hp`` / ``second_hp``: each part's hyper-parameters.

    ``weight`` is chosen on the holdout like any hyper-parameter (``search_space``, :func:`graphrec.closedfit.search`);
    ``fitted_by`` names only the parts, so the points of a grid over the weight reuse one fit of both. When both parts
    are spectral filters with the same cut-off k, the second takes the first's singular vectors (one SVD for the
    pair). There is no embedding pair: the mix is not a dot product.

    Defaults: BSPM (its Gowalla setting) + LinkProp, weight 0.5, z-scores: the pair that helped on Gowalla's holdout.
    LinkProp's degree-normalised path counts are the least alike of the baselines to a low-pass filter: on 2,500
    validation users BSPM alone scored 0.2179 / 0.1195 Recall / NDCG@20 and the half-and-half mix 0.2212 / 0.1227,
    while BSPM with ChebyCF, GF-CF or Turbo-CF, or ChebyCF with LinkProp, gained less or lost; dividing by the maximum
    instead of z-scores was below at every weight. On Yelp2018's holdout no pair of these beat BSPM alone. Tested once,
    the Gowalla choice (weight 0.5) scored 0.1889 / 0.1561, below BSPM alone (0.1928 / 0.1610): the holdout carved at
    random from train.txt overrates LinkProp against the test file, as LinkProp's own rows show (BENCHMARKS.md).

    A part may also be given built (``first=``/``second=`` a closed-form model, fitted or not; a fitted one is not
    fitted again): a filter fitted elsewhere, or :class:`TrainedScores`, a trained run's embeddings, which is how a
    filter is mixed with a trained model (:mod:`graphrec.trainedmix`: the holdout model's scores choose the weight,
    the refit model's are tested). Such a hybrid is not registered by name and not saved; its ``hparams()`` name the
    part by its ``label``.

    Deviations: not a published model; the mixing of normalised scores is the usual late fusion of recommenders.
    """

    fitted_by = ("first", "first_hp", "second", "second_hp")
    not_servable = "its per-user standardisation is not a sum over the user's items, so the graph cannot serve it"
    search_space = {"weight": (0.3, 0.4, 0.5, 0.6)}

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None,
                 first: "str | ClosedFormRecommender" = "bspm", second: "str | ClosedFormRecommender" = "linkprop",
                 weight: float = 0.5, first_hp: dict | None = None, second_hp: dict | None = None,
                 normalise: str = "zscore"):
        super().__init__(n_users, n_items, graph)
        if not 0.0 <= float(weight) <= 1.0:
            raise ModelError(f"Hybrid: weight (the second model's share) must be in [0, 1], got {weight}")
        if normalise not in NORMALISATIONS:
            raise ModelError(f"Hybrid: normalise must be one of {NORMALISATIONS}, got {normalise!r}")
        self.weight, self.normalise = float(weight), normalise
        self.first_model, self.first, self.first_hp = self._part("first", first, first_hp)
        self.second_model, self.second, self.second_hp = self._part("second", second, second_hp)

    def _part(self, role: str, part, hp: dict | None) -> tuple[ClosedFormRecommender, str, dict | None]:
        """(the part, its name in ``hparams()``, its hyper-parameters) from a registered name, or a part built
        elsewhere (a :class:`TrainedScores`, or a filter fitted already): its ``label``, or its class name."""
        from graphrec.models import build, model_class  # the registry holds this class: imported when built

        if isinstance(part, ClosedFormRecommender):
            if (part.n_users, part.n_items) != (self.n_users, self.n_items):
                raise ModelError(f"Hybrid: {role} part is for {part.n_users} users x {part.n_items} items, the "
                                 f"hybrid for {self.n_users} x {self.n_items}")
            return part, getattr(part, "label", type(part).__name__), part.hparams()
        if not getattr(model_class(part), "closed_form", False):
            raise ModelError(f"Hybrid: {role}={part!r} trains by epochs; a hybrid mixes closed-form models "
                             "(graph filters and baselines), fitted in the same call, or a trained run's saved "
                             "scores (TrainedScores, graphrec.trainedmix)")
        return build(part, self.n_users, self.n_items, graph=torch.stack([self._users, self._items]),
                     **(hp or {})), part, hp

    def fit(self, progress: Progress = silent, reuse: ClosedFormRecommender | None = None) -> "Hybrid":
        if reuse is not None and type(reuse) is Hybrid and reuse.is_fitted and \
                all(getattr(reuse, name) == getattr(self, name) for name in self.fitted_by) and \
                torch.equal(reuse._users, self._users) and torch.equal(reuse._items, self._items):
            self.first_model, self.second_model = reuse.first_model, reuse.second_model
            self._done = True
            return self
        return super().fit(progress)

    def solve(self, progress: Progress) -> None:
        if not self.first_model.is_fitted:  # a part given fitted is not fitted again
            self.first_model.fit(progress)
        if not self.second_model.is_fitted:
            self.second_model.fit(progress, reuse=self.first_model)  # shares what both would compute (the SVD)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        for prefix, part in (("first_model.", self.first_model), ("second_model.", self.second_model)):
            part.load_state_dict({k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)})
        self._done = True
        return torch.nn.modules.module._IncompatibleKeys([], [])

    def item_item(self, x: Tensor) -> Tensor:
        raise ModelError(f"Hybrid: {self.not_servable}")

    def filter(self, x: Tensor, users: Tensor) -> Tensor:
        unseen = x == 0
        first = standardise(self.first_model.filter(x, users), unseen, self.normalise)
        if self.weight == 0.0:
            return first
        second = standardise(self.second_model.filter(x, users), unseen, self.normalise)
        if self.weight == 1.0:
            return second
        return first.mul_(1.0 - self.weight).add_(second, alpha=self.weight)


class TrainedScores(ClosedFormRecommender):
    """A trained model's scores, frozen: the dot products of its saved user and item embeddings, as a part of a
    :class:`Hybrid` (``Hybrid(..., second=TrainedScores(...))``). Nothing to fit; not registered, since its state is
    a training run's output (:func:`graphrec.trainedmix.holdout_part` and :func:`~graphrec.trainedmix.refit_part` read one). ``label`` names it in the
    hybrid's ``hparams()``; ``graph`` is the interactions the mix is scored on (the ranking masks them)."""

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, user: Tensor | None = None,
                 item: Tensor | None = None, label: str = "trained"):
        super().__init__(n_users, n_items, graph)
        if user is None or item is None or user.shape[0] != n_users or item.shape[0] != n_items or \
                user.shape[1] != item.shape[1]:
            raise ModelError(f"TrainedScores needs user (n_users={n_users}, d) and item (n_items={n_items}, d) "
                             f"embeddings, got {None if user is None else tuple(user.shape)} and "
                             f"{None if item is None else tuple(item.shape)}")
        self.label = label
        self.keep("user", user.detach().float().contiguous())
        self.keep("item", item.detach().float().contiguous())
        self._done = True

    def filter(self, x: Tensor, users: Tensor) -> Tensor:
        return self.item @ self.user[users].t()

    def forward(self) -> tuple[Tensor, Tensor]:
        return self.user, self.item

    def hparams(self) -> dict:
        return {"label": self.label}


def standardise(scores: Tensor, unseen: Tensor, how: str) -> Tensor:
    """Each column of ``scores`` (n_items, B) standardised over its ``unseen`` rows that the model scored (in place)."""
    if how == "none":
        return scores
    counted = unseen & (scores > torch.finfo(scores.dtype).min)
    n = counted.sum(0).clamp(min=1)
    if how == "max":
        top = torch.where(counted, scores.abs(), torch.zeros(())).amax(0)
        return scores.div_(torch.where(top > 0, top, torch.ones(())))
    kept = torch.where(counted, scores, torch.zeros(()))
    mean = kept.sum(0) / n
    spread = ((torch.where(counted, scores - mean, torch.zeros(())) ** 2).sum(0) / n).sqrt()
    return scores.sub_(mean).div_(torch.where(spread > 0, spread, torch.ones(())))


class FilterMix(ClosedFormRecommender):
    """A closed-form model's scores plus a trained model's, each divided by one number for the whole graph, mixed by
    ``weight`` (the trained part's share): ``(1 − weight) · base(u) / s_base + weight · trained(u) / s_trained``.

    Why: on DiffNet-Yelp BSPM (test Recall@20 0.0396) and MHCN (0.0441) mixed at weight 0.8, the weight valid
    chose, tested 0.0471 (``benchmarks/filter_mix.py``), and on Gowalla ChebyCF with LightGCN at 0.8 tested 0.1984
    against 0.1943 and 0.1842 (BENCHMARKS.md): a filter and a trained model err on different items. iALS, fitted in
    closed form, is such a part too: ChebyCF with iALS at 0.65 (``--preset gowalla``) tested 0.1972 / 0.1649, fitted
    in 31 s. ``graphrec train --model auto`` tries this mix of its best trained trial, and of iALS, with its
    closed-form leaders on the holdout (:func:`graphrec.automix.mix_search`) and serves one where it beats every trial.

    Unlike :class:`Hybrid` (per-user z-scores), the scales ``s`` are one number per part (the standard deviation of
    its scores over the unseen items of a seeded sample of users, computed at fit), so the mix stays a sum the graph
    can serve: its embeddings are the base's low-pass pair and the trained pair side by side, the user halves
    scaled, and its item–item rows are the base's, scaled (:meth:`forward`, :meth:`item_rows`). On DiffNet-Yelp the
    global scales tested higher than per-user z-scores at every weight from 0.2 to 0.8.

    ``base``/``base_hp``: the closed-form part (any servable registered one but a mix or hybrid). ``trained``/
    ``trained_hp``: the part scored by its embeddings, fitted by :meth:`fit` on the same interactions unless
    :meth:`use_parts` gave it fitted already (auto's holdout trial): a model trained by epochs trains for
    ``trained_config["epochs"]`` epochs without validation (the rest of ``trained_config``:
    :class:`graphrec.train.TrainConfig` fields such as ``lr``, ``batch_size``, ``seed``, ``budget_seconds``); iALS
    (``trained="ials"``) is fitted in closed form, in seconds, so the whole mix is. ``side``: the social and KG graphs,
    for a trained part that reads them.

    Defaults: GF-CF and LightGCN trained 20 epochs, half and half, a mix any graph can fit; auto sets every part from
    its trials.

    Deviations: not a published model; the linear late fusion of two recommenders' scores.
    """

    fitted_by = ("base", "base_hp", "trained", "trained_hp", "trained_config")
    search_space = {"weight": (0.2, 0.35, 0.5, 0.65, 0.8)}
    scale_users = 512  # users whose scores set each part's scale (seeded)
    DEFAULT_EPOCHS = 20

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, base: str = "gfcf",
                 base_hp: dict | None = None, trained: str = "lightgcn", trained_hp: dict | None = None,
                 trained_config: dict | None = None, weight: float = 0.5, side=None):
        from graphrec.models import build, model_class

        super().__init__(n_users, n_items, graph)
        if not 0.0 <= float(weight) <= 1.0:
            raise ModelError(f"FilterMix: weight (the trained part's share) must be in [0, 1], got {weight}")
        base_cls, trained_cls = model_class(base), model_class(trained)
        if not base_cls.closed_form or base_cls in (Hybrid, FilterMix) or base_cls.not_servable:
            raise ModelError(f"FilterMix: base={base!r} must be a servable closed-form model (a graph filter or a "
                             "baseline), not a trained model, a hybrid or another mix")
        if trained_cls in (Hybrid, FilterMix) or not trained_cls.dot_product_scores:
            raise ModelError(f"FilterMix: trained={trained!r} must be a model scored by its embeddings alone (a "
                             "model trained by epochs, or iALS)")
        if trained_cls.closed_form and trained_config:
            raise ModelError(f"FilterMix: trained={trained!r} is fitted in closed form; trained_config (epochs, lr, "
                             "...) is for a part trained by epochs")
        self.base, self.base_hp, self.trained, self.trained_hp = base, base_hp, trained, trained_hp
        self.trained_config, self.weight, self.side = trained_config, float(weight), side
        self.base_model = build(base, n_users, n_items, graph=torch.stack([self._users, self._items]),
                                **(base_hp or {}))
        self.dot_product_scores = base_cls.dot_product_scores  # a base scored by embeddings alone: so is the mix

    def hparams(self) -> dict:
        return {"base": self.base, "base_hp": self.base_hp, "trained": self.trained, "trained_hp": self.trained_hp,
                "trained_config": self.trained_config, "weight": self.weight}

    def use_parts(self, base: ClosedFormRecommender | None = None,
                  embeddings: tuple[Tensor, Tensor] | None = None) -> "FilterMix":
        """Parts fitted elsewhere (the base on the same graph; the trained part's (user, item) embeddings), so
        :meth:`fit` computes only the scales."""
        if base is not None:
            if type(base) is not type(self.base_model) or base.hparams() != self.base_model.hparams() or \
                    not base.is_fitted or not torch.equal(base._users, self._users):
                raise ModelError(f"FilterMix.use_parts: the base must be a fitted {self.base} with {self.base_hp} "
                                 "on the same interactions")
            self.base_model = base
        if embeddings is not None:
            user, item = embeddings
            if tuple(user.shape[:1]) != (self.n_users,) or tuple(item.shape[:1]) != (self.n_items,) or \
                    user.shape[1] != item.shape[1]:
                raise ModelError(f"FilterMix.use_parts: embeddings must be ({self.n_users}, d) and ({self.n_items}, "
                                 f"d), got {tuple(user.shape)} and {tuple(item.shape)}")
            self.keep("trained_user", user.detach().float().contiguous())
            self.keep("trained_item", item.detach().float().contiguous())
        return self

    def derive(self, other: "FilterMix") -> None:
        self.base_model = other.base_model
        super().derive(other)

    def solve(self, progress: Progress) -> None:
        if not self.base_model.is_fitted:
            self.base_model.fit(progress)
        if "trained_user" not in self._fitted:
            self.use_parts(embeddings=self._train_part(progress))
        self.keep("scales", self._scales())

    def _train_part(self, progress: Progress = silent) -> tuple[Tensor, Tensor]:
        """The trained part's (user, item) embeddings, trained here on this model's interactions (a bar per epoch,
        or the closed-form part's own progress, unless ``progress`` is silent)."""
        from graphrec.models import build
        from graphrec.recdata import RecData
        from graphrec.train import TrainConfig, fit

        graph = torch.stack([self._users, self._items])
        settings = {"epochs": self.DEFAULT_EPOCHS, **(self.trained_config or {})}
        config = TrainConfig(**{**settings, "eval_every": 0, "patience": None, "min_epochs": 0, "test": False,
                                "progress": progress is not silent})
        model = build(self.trained, self.n_users, self.n_items, graph=graph, seed=config.seed, side=self.side,
                      **(self.trained_hp or {}))
        if model.closed_form:
            return tuple(t.detach() for t in model.fit(progress)())
        data = RecData.from_pairs(self.n_users, self.n_items, graph)
        with torch.enable_grad():  # closed-form fits run under no_grad (graphrec.closedfit)
            fit(model, data, config)
        model.eval()
        with torch.no_grad():
            return tuple(t.detach() for t in model())

    def _scales(self) -> Tensor:
        """(s_base, s_trained): each part's score spread over the unseen items of a seeded sample of users."""
        active = torch.nonzero(self.user_degree > 0).flatten()
        pick = torch.randperm(active.numel(), generator=torch.Generator().manual_seed(0))[:self.scale_users]
        users = active[pick].sort().values
        x = self.signal(users)
        unseen = x == 0
        spreads = []
        for part in (self.base_model.filter(x, users), self._trained_scores(users)):
            values = part[unseen & (part > torch.finfo(part.dtype).min)]
            spread = float(values.std()) if values.numel() > 1 else 0.0
            spreads.append(spread if spread > 0 else 1.0)
        return torch.tensor(spreads)

    def _trained_scores(self, users: Tensor) -> Tensor:
        return self.trained_item @ self.trained_user[users].t()

    def _shares(self) -> tuple[float, float]:
        return (1.0 - self.weight) / float(self.scales[0]), self.weight / float(self.scales[1])

    def filter(self, x: Tensor, users: Tensor) -> Tensor:
        a, b = self._shares()
        return self.base_model.filter(x, users).mul_(a).add_(self._trained_scores(users), alpha=b)

    def scaled_parts(self) -> tuple["ScaledPart", "ScaledPart"]:
        """The fitted parts, each divided by its scale, as models of their own: this mix at any weight w scores
        (1 − w)·first + w·second, so auto ranks every weight from one scoring of each
        (:func:`graphrec.trainedmix.weighted_valid`)."""
        return ScaledPart(self, 0), ScaledPart(self, 1)

    def forward(self) -> tuple[Tensor, Tensor]:
        a, b = self._shares()
        user, item = self.base_model.forward()
        return torch.cat([user * a, self.trained_user * b], 1), torch.cat([item, self.trained_item], 1)

    def item_item(self, x: Tensor) -> Tensor:
        if self.dot_product_scores:
            return torch.zeros_like(x)
        return self.base_model.item_item(x).mul_(self._shares()[0])

    def item_rows(self, items: Tensor) -> Tensor:
        if self.dot_product_scores:
            return torch.zeros(items.numel(), self.n_items)
        return self.base_model.item_rows(items) * self._shares()[0]

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        prefix = "base_model."
        self.base_model.load_state_dict({k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)})
        for name, value in state_dict.items():
            if not name.startswith(prefix):
                self.keep(name, value.clone())
        self._done = True
        return torch.nn.modules.module._IncompatibleKeys([], [])


class ScaledPart:
    """Part ``which`` (0: the base, 1: the trained part) of a fitted :class:`FilterMix`, divided by its scale."""

    def __init__(self, mix: FilterMix, which: int):
        self.mix, self.which = mix, which

    def signal(self, users: Tensor) -> Tensor:
        return self.mix.signal(users)

    def filter(self, x: Tensor, users: Tensor) -> Tensor:
        scores = self.mix.base_model.filter(x, users) if self.which == 0 else self.mix._trained_scores(users)
        return scores.div_(float(self.mix.scales[self.which]))
