"""Synthetic conditions: the weather timeline, the forecast nodes and tyres for the conditions.

`weather_timeline` samples temperatures, cloud, rain, track wetness and wind every few minutes
(a sun curve over the time of day, an optional shower that wets and then dries the track);
`Weather.at` reads the sample in force at an ET. The tyre choice lives here too because it
only depends on the conditions.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass, field

from sim.script import Conditions
from sim.synthetic_entries import weighted

WEATHER_STEP = 300.0


@dataclass
class Weather:
    samples: list[Conditions]
    ets: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ets = [c.et for c in self.samples]

    def at(self, et: float) -> Conditions:
        return self.samples[max(0, bisect_right(self.ets, et) - 1)]


def _sun(time_of_day: float) -> float:
    """0 at night, 1 at noon."""
    return max(0.0, math.sin(math.pi * (time_of_day - 6 * 3600) / (12 * 3600)))


def weather_timeline(rng: random.Random, until: float, tod_start: float) -> Weather:
    step = min(WEATHER_STEP, max(30.0, until / 10))
    base = rng.uniform(14.0, 28.0)
    rain_chance = 0.4 if until > 6 * 3600 else 0.15
    rain: tuple[float, float, float] | None = None
    if rng.random() < rain_chance:
        start = rng.uniform(0.15, 0.75) * until
        rain = (start, start + max(600.0, rng.uniform(0.05, 0.25) * until), rng.uniform(0.2, 0.9))
    cloud = rng.uniform(0.0, 0.5)
    wind = rng.uniform(0.0, 6.0)
    wind_angle = rng.uniform(0, 2 * math.pi)
    heat = rng.uniform(8.0, 16.0)
    wet = 0.0
    samples = []
    et = 0.0
    while et <= until + step:
        tod = (tod_start + et) % 86400
        raining = 0.0
        if rain and rain[0] <= et <= rain[1]:
            ramp = min(1.0, (et - rain[0]) / 600.0, (rain[1] - et) / 600.0 + 0.2)
            raining = rain[2] * max(0.1, ramp)
        cloud = min(1.0, max(0.0, cloud + rng.gauss(0, 0.05)))
        dark = max(cloud * 0.6, min(1.0, raining * 1.2))
        ambient = base + 5.0 * math.sin(2 * math.pi * (tod - 9 * 3600) / 86400) + rng.gauss(0, 0.2)
        track_temp = ambient + _sun(tod) * (1.0 - dark) * heat - 4.0 * wet
        if raining > 0:
            wet = min(1.0, wet + raining * step / 900.0)
        else:
            wet = max(0.0, wet - step / 1800.0 * (0.5 + _sun(tod)))
        spread = 0.1 * wet
        wind = min(12.0, max(0.0, wind + rng.gauss(0, 0.4)))
        wind_angle += rng.gauss(0, 0.05)
        samples.append(
            Conditions(
                et=et,
                ambient_temp=round(ambient, 2),
                track_temp=round(track_temp, 2),
                raining=round(raining, 3),
                dark_cloud=round(dark, 3),
                wetness_avg=round(wet, 3),
                wetness_min=round(max(0.0, wet - spread), 3),
                wetness_max=round(min(1.0, wet + spread), 3),
                wind_speed=round(wind, 2),
                wind_dir=(round(math.cos(wind_angle), 4), round(math.sin(wind_angle), 4)),
            )
        )
        et += step
    return Weather(samples)


def weather_nodes(rng: random.Random, weather: Weather, max_time: float) -> list[dict]:
    """Forecast nodes shaped like GetGameState's `closeestWeatherNode` (all ints)."""
    count = max(1, min(5, int(max_time // 3600) + 1))
    span = max_time / count
    nodes = []
    for k in range(count):
        cond = weather.at(k * span)
        nodes.append(
            {
                "Duration": int(span),
                "Humidity": int(min(100, 50 + 40 * cond.dark_cloud + rng.randint(0, 10))),
                "RainChance": round(100 * min(1.0, cond.raining + 0.3 * cond.dark_cloud)),
                "Sky": int(min(4, round(cond.dark_cloud * 4))),
                "StartTime": int(k * span),
                "Temperature": round(cond.ambient_temp),
                "WindDirection": rng.randint(0, 7),
                "WindSpeed": round(cond.wind_speed),
            }
        )
    return nodes


def _dry_compound(rng: random.Random, track_temp: float) -> str:
    if track_temp > 36:
        return "Hard" if rng.random() < 0.7 else "Medium"
    if track_temp < 22:
        return "Soft" if rng.random() < 0.6 else "Medium"
    return weighted(rng, (("Medium", 7), ("Hard", 2), ("Soft", 1)))  # type: ignore[return-value]


def compound_for(rng: random.Random, cond: Conditions) -> str:
    if cond.wetness_avg > 0.3 or cond.raining > 0.4:
        return "Wet"
    return _dry_compound(rng, cond.track_temp)
