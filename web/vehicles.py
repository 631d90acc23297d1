"""Make and model of a car from what the game tells: its .VEH file name and vehicle name.

The game sends no make. Studio 397's own cars carry a model code in the file name
("397_24_499P"); modded or hosted liveries carry a hash ("54_25_FORD16E6FEC3") whose first
letters, like the vehicle name ("Ford GT3 2025 #54:LM"), often still name the brand. Unknown
cars get an empty make rather than a guess.
"""

from __future__ import annotations

import re
from functools import cache

# model code in the file name -> (make, model); longer codes are tried first
MODELS: dict[str, tuple[str, str]] = {
    "ORECA07": ("Oreca", "07"),
    "499P": ("Ferrari", "499P"),
    "963": ("Porsche", "963"),
    "9X8": ("Peugeot", "9X8"),
    "GR010": ("Toyota", "GR010"),
    "VSERIESR": ("Cadillac", "V-Series.R"),
    "M4LMDH": ("BMW", "M Hybrid V8"),
    "A424": ("Alpine", "A424"),
    "SC63": ("Lamborghini", "SC63"),
    "TIPO6": ("Isotta Fraschini", "Tipo 6"),
    "SCG007": ("Glickenhaus", "007"),
    "VANWALL": ("Vanwall", "680"),
    "VALKYRIE": ("Aston Martin", "Valkyrie"),
    "JSP320": ("Ligier", "JS P320"),
    "D09": ("Duqueine", "D09"),
    "G61": ("Ginetta", "G61"),
    "488GTE": ("Ferrari", "488 GTE"),
    "911RSR": ("Porsche", "911 RSR"),
    "VANTAGEAMR": ("Aston Martin", "Vantage AMR"),
    "C8R": ("Corvette", "C8.R"),
    "MCLAREN": ("McLaren", "720S GT3"),
    "911GT3R": ("Porsche", "911 GT3 R"),
    "296GT3": ("Ferrari", "296 GT3"),
    "M4GT3": ("BMW", "M4 GT3"),
    "VANTAGEGT3": ("Aston Martin", "Vantage GT3"),
    "RCF": ("Lexus", "RC F GT3"),
    "HURACAN": ("Lamborghini", "Huracán GT3"),
    "Z06GT3": ("Corvette", "Z06 GT3.R"),
    "MUSTANG": ("Ford", "Mustang GT3"),
}

MAKES = (
    "Aston Martin", "Alpine", "BMW", "Cadillac", "Corvette", "Duqueine", "Ferrari", "Ford",
    "Genesis", "Ginetta", "Glickenhaus", "Isotta Fraschini", "Lamborghini", "Lexus", "Ligier",
    "McLaren", "Mercedes-AMG", "Oreca", "Peugeot", "Porsche", "Toyota", "Vanwall",
)  # fmt: skip

# first letters of a hashed file name's model part -> make
PREFIXES = {
    "ASTO": "Aston Martin", "ALPI": "Alpine", "BMW": "BMW", "CADI": "Cadillac",
    "CORV": "Corvette", "FERR": "Ferrari", "FORD": "Ford", "LAMB": "Lamborghini",
    "LEXU": "Lexus", "MCLA": "McLaren", "MERC": "Mercedes-AMG", "PEUG": "Peugeot",
    "PORS": "Porsche", "TOYO": "Toyota", "GENE": "Genesis", "ORECA": "Oreca",
}  # fmt: skip

_CODES = sorted(MODELS, key=len, reverse=True)
_PREFIX = re.compile(r"^\d+_\d+_(.+?)(?:\.VEH)?$", re.IGNORECASE)


@cache
def make_model(vehicle_file: str, vehicle_name: str = "") -> tuple[str, str]:
    """(make, model) of a car; ("", "") when nothing tells."""
    match = _PREFIX.match(vehicle_file or "")
    code = (match.group(1) if match else vehicle_file or "").upper()
    for known in _CODES:
        if code.startswith(known) or code == known:
            return MODELS[known]
    name = vehicle_name or ""
    for make in MAKES:
        if re.search(rf"\b{re.escape(make)}\b", name, re.IGNORECASE):
            return make, ""
    for prefix, make in PREFIXES.items():
        if code.startswith(prefix):
            return make, ""
    return "", ""
