"""The researchers' forms for a generation job and for building a sample pool from one: each checks, before
anything is saved, what a worker would otherwise refuse later."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from . import services
from .models import MAX_SEED, AttentionKind, GenerationJob


class JobForm(forms.ModelForm):
    class Meta:
        model = GenerationJob
        fields = ["trained_model", "layer", "schemes", "samples_per_scheme", "seed", "optimise_dr", "optimise_steps",
                  "write_all_images", "match_novelty"]

    def clean(self):
        data = super().clean()
        model = data.get("trained_model")
        if model is not None and model.is_ready and not self.errors:
            # The job as it would be saved (the instance itself is updated only after clean()).
            job = GenerationJob(**{k: v for k, v in data.items() if k in self.Meta.fields})
            try:
                services.check_runnable(job)
            except services.JobError as exc:
                raise ValidationError(str(exc)) from exc
            # Parameters checked for sense against the model's layer, so a job that cannot run never reaches a worker.
            problems = services.scheme_fit_problems(job)
            if problems:
                raise ValidationError({field: problem for field, problem in problems.items()})
        return data


class PoolForm(forms.Form):
    """Every number bounded, so nothing absurd reaches a worker: the bounds of the job come from pool_problems."""

    attention_checks = forms.IntegerField(
        min_value=0, initial=0, help_text='Images mixed in whose expected label is "not novel or creative" (at most '
        "the pool's generated images, and the images of the data set they come from).")
    attention_kind = forms.ChoiceField(
        label="Attention checks show", choices=AttentionKind.choices, initial=AttentionKind.RECONSTRUCTION,
        required=False,  # a script that leaves it out gets the default
        help_text="Raw training images look sharper than generated ones, so annotators can spot them; "
                  "reconstructions of held-out images (encoder mean, regular decoding) look like the pool.",
    )
    seed = forms.IntegerField(min_value=0, max_value=MAX_SEED, initial=0, help_text="Which samples are drawn, and "
                              "the order: 0 to 2**32 - 1.")
    name = forms.CharField(required=False, max_length=200)
    accept_spottable_checks = forms.BooleanField(
        label="Accept spottable checks", required=False,
        help_text="The build measures how well simple image statistics tell the checks from the generated images "
                  "(cross-validated AUC) and refuses above the limit, or when the model's reconstructions have "
                  "collapsed. Tick to build anyway: the report then says the checks could be spotted.")

    def __init__(self, *args, job: GenerationJob, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.job = job
        self.fields["per_scheme"] = forms.IntegerField(
            min_value=1, max_value=job.samples_per_scheme, initial=min(125, job.samples_per_scheme),
            help_text=f"Samples of each scheme in the pool, at most the job's {job.samples_per_scheme:,}. The paper "
            "had about 500 images per data set in all (e.g. 125 per scheme).")
        # One image in twenty a check by default: enough to find a careless annotator, too few to tire a careful one.
        schemes = max(1, len(job.schemes or {}))
        self.fields["attention_checks"].initial = max(1, self.fields["per_scheme"].initial * schemes // 20)
        self.fields["attention_checks"].help_text += " Default: one image in twenty."
        self.order_fields(["per_scheme", "attention_checks", "attention_kind", "seed", "name",
                           "accept_spottable_checks"])

    def clean_attention_kind(self) -> str:
        return self.cleaned_data.get("attention_kind") or AttentionKind.RECONSTRUCTION

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        problems = services.pool_problems(self.job, per_scheme=data["per_scheme"], seed=data["seed"],
                                          attention_checks=data["attention_checks"])
        if not problems and data["attention_checks"]:
            problem = services.attention_supply_problem(self.job, data["attention_checks"], data["attention_kind"])
            if problem:
                problems["attention_checks"] = problem
        for field, problem in problems.items():
            self.add_error(None if field == "__all__" else field, problem)
        return data
