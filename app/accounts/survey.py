"""The one-time survey: the seeds' questions and options, and validation of an answer."""

from __future__ import annotations

from app.errors import WebError

QUESTIONS = (
    {
        "name": "education",
        "text": "What is your current education status?",
        "options": ("Undergraduate student", "Masters student", "PhD student", "Not currently in a degree program"),
        "multiple": False,
    },
    {
        "name": "experience_years",
        "text": "How many years of experience training neural networks have you had?",
        "options": ("This class is my first experience", "Less than 6 months", "6 months - 1 year", "1 - 2 years", "2+ years"),
        "multiple": False,
    },
    {
        "name": "self_rating",
        "text": "How experienced would you consider yourself at training neural networks?",
        "options": ("Very inexperienced", "Some experience", "Moderately experienced", "Expert"),
        "multiple": False,
    },
    {
        "name": "network_types",
        "text": "What types of networks have you trained before? (Select all that apply.)",
        "options": (
            "Fully connected networks",
            "Convolutional neural networks",
            "Recurrent neural networks",
            "Networks for vision tasks",
            "Networks for NLP tasks",
            "None of the above",
        ),
        "multiple": True,
    },
)


def parse_answers(single: dict[str, str | None], network_types: list[str]) -> dict:
    """Validated answers; WebError(422) naming the first unanswered or unknown choice."""
    answers: dict = {}
    for question in QUESTIONS:
        if question["multiple"]:
            if not network_types:
                raise WebError(f"please answer: {question['text']}", 422)
            unknown = [v for v in network_types if v not in question["options"]]
            if unknown:
                raise WebError(f"unknown choice {unknown[0]!r}", 422)
            if "None of the above" in network_types and len(network_types) > 1:
                raise WebError("'None of the above' cannot be combined with other network types", 422)
            answers[question["name"]] = list(dict.fromkeys(network_types))
            continue
        value = single.get(question["name"])
        if not value:
            raise WebError(f"please answer: {question['text']}", 422)
        if value not in question["options"]:
            raise WebError(f"unknown choice {value!r}", 422)
        answers[question["name"]] = value
    return answers
