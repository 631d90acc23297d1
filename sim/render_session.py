"""Session-level documents: sessionInfo (REST and websocket), game state, navigation, join
state, the weekend schedule, the track map and chat."""

from __future__ import annotations

from sim.render_base import EMPTY, Scene, f, game_state_phase, velocity, ws_phase
from sim.script import PHASE_GREEN, PHASE_PAUSED, SessionScript
from sim.snapshot import SessionLive
from sim.viewpoint import ViewMode

NAVIGATION = {
    ViewMode.DRIVING: "SETTING_DRIVING",
    ViewMode.MONITOR: "SETTING_MONITOR",
    ViewMode.REPLAY: "SETTING_REPLAY_PLAYBACK",
    ViewMode.MENU: "SETTING_MAIN_MENU",
    ViewMode.LOADING: "SETTING_LOADING",
}


def _session_fields(scene: Scene, live: SessionLive) -> dict:
    script = live.script
    cond = live.conditions
    wind_x, wind_z = cond.wind_dir
    ws = cond.wind_speed
    end_et = script.end_et if script.end_et is not None else script.max_time
    lights = script.num_red_lights + 1 if live.phase >= PHASE_GREEN else 0
    return {
        "ambientTemp": f(cond.ambient_temp),
        "averagePathWetness": f(cond.wetness_avg),
        "currentEventTime": f(live.et),
        "darkCloud": f(cond.dark_cloud),
        "endEventTime": f(end_et),
        "gameMode": "UNKNOWN",
        "gamePhase": live.phase,
        "inRealtime": scene.mode is ViewMode.DRIVING,
        "lapDistance": f(script.track.length),
        "maxPathWetness": f(cond.wetness_max),
        "maxPlayers": script.max_players if script.online else 0,
        "maxTime": f(script.max_time),
        "maximumLaps": int(script.maximum_laps),
        "minPathWetness": f(cond.wetness_min),
        "numRedLights": script.num_red_lights,
        "numberOfPlayers": number_of_players(script),
        "numberOfVehicles": len(script.cars),
        "passwordProtected": bool(script.password_protected),
        "playerFileName": scene.view.player_file_name,
        "playerName": scene.view.name_in(script),
        "raceCompletion": {"timeCompletion": f(live.race_completion)},
        "raining": f(cond.raining),
        "sectorFlag": list(live.sector_flags),
        "serverName": script.server_name if script.online else "-none-",
        "serverPort": script.server_port if script.online else 0,
        "session": script.session,
        "startEventTime": f(script.start_et),
        "startLightFrame": lights,
        "timeRemainingInGamePhase": f(live.time_remaining),
        "trackName": script.track.name,
        "trackTemp": f(cond.track_temp),
        "windSpeed": velocity(wind_x * ws, 0.0, wind_z * ws, ws),
        "yellowFlagState": "NONE",
    }


def number_of_players(script: SessionScript) -> int:
    """Humans in the session: members of every entry online (plus the admin), 1 offline."""
    if not script.online:
        return 1
    return 1 + sum(max(1, len(car.entry.members)) for car in script.cars)


def session_info(scene: Scene) -> object:
    """/rest/watch/sessionInfo: an empty body when the game is not in a session."""
    if not scene.in_session:
        return EMPTY
    return _session_fields(scene, scene.live)


def ws_session_info(scene: Scene) -> dict | None:
    """Websocket SessionInfo body (None: nothing to push)."""
    if not scene.in_session:
        return None
    body = _session_fields(scene, scene.live)
    body["gamePhase"] = ws_phase(scene.live.phase)
    return body


def _multi_stint_state(scene: Scene) -> str:
    if scene.mode is ViewMode.LOADING:
        return "LOADING"
    if not scene.in_session:
        return "DISABLED"
    live = scene.live
    if live.phase == PHASE_PAUSED:
        return "PAUSED"
    car = scene.player_car
    if (
        live.finished
        and live.script.is_race
        and car is not None
        and car.finish_status != "FSTAT_NONE"
    ):
        return "END_OF_RACE_GRACE"
    return "DRIVING" if scene.mode is ViewMode.DRIVING else "MONITOR_MENU"


def _weather_node(script: SessionScript | None, live: SessionLive | None) -> dict:
    nodes = script.weather_nodes if script is not None else []
    if nodes:
        span = max(script.max_time, 1.0) / len(nodes)
        et = live.et if live is not None else 0.0
        return dict(nodes[min(len(nodes) - 1, max(0, int(et // span)))])
    if live is None:
        return {
            "Duration": 0,
            "Humidity": 0,
            "RainChance": 0,
            "Sky": 0,
            "StartTime": 0,
            "Temperature": 0,
            "WindDirection": 0,
            "WindSpeed": 0,
        }
    cond = live.conditions
    return {
        "Duration": 0,
        "Humidity": round(50 + 40 * cond.raining),
        "RainChance": round(cond.raining * 100),
        "Sky": min(4, round(cond.dark_cloud * 4)),
        "StartTime": 0,
        "Temperature": round(cond.ambient_temp),
        "WindDirection": 0,
        "WindSpeed": round(cond.wind_speed),
    }


def game_state(scene: Scene) -> dict:
    """/rest/sessions/GetGameState: answers whenever the game runs, in a session or not."""
    live = scene.live if scene.in_session else None
    car = scene.player_car if live is not None else None
    driving = scene.mode is ViewMode.DRIVING
    doc = {
        "MultiStintState": _multi_stint_state(scene),
        "closeestWeatherNode": _weather_node(scene.script, live),
        "gamePhase": game_state_phase(live.phase) if live is not None else "GPHASE_BEFORE",
        "haveILoadedAllMyTiresYet": live is not None,
        "inControlOfVehicle": driving,
        "inMonitor": scene.mode in (ViewMode.MONITOR, ViewMode.REPLAY),
        "isReplayActive": scene.mode is ViewMode.REPLAY,
        "playerVehicleLoaded": live is not None and car is not None,
        "raceFinished": bool(live is not None and live.finished),
        "teamVehicleState": _team_vehicle_state(scene),
        "timeOfDay": f(live.time_of_day if live is not None else 0.0),
    }
    if live is not None:
        doc["PitEntryDist"] = f(live.script.track.pit_entry * live.script.track.length)
        doc["PitState"] = car.pit_state if car is not None else "NONE"
        doc["exitGarageState"] = "None"
    return doc


def _team_vehicle_state(scene: Scene) -> str:
    if not scene.in_session or scene.player_car is None:
        return "NO VEHICLE"
    if scene.mode is ViewMode.DRIVING:
        return "IN CONTROL"
    return "OTHER TEAMMATE DRIVING"


def navigation_state(scene: Scene) -> dict:
    return {"settingMode": NAVIGATION.get(scene.mode, "SETTING_MAIN_MENU")}


def join_state(scene: Scene) -> str:
    """A JSON string literal: joined while in (or loading) an online session."""
    if scene.online and (scene.in_session or scene.mode is ViewMode.LOADING):
        return "JOIN_JOINED_SERVER"
    return "JOIN_IDLE"


def _scheduled_name(session: str) -> str:
    if session.startswith("QUALIFY"):
        return "QUALIFYING"
    if session.startswith("RACE"):
        return "RACE"
    return "PRACTICE"


def sessions_info_for_event(scene: Scene) -> dict:
    """The weekend's schedule; `lengthTime` in minutes like the game (8100 s -> 135)."""
    if not (scene.in_session or scene.mode is ViewMode.LOADING):
        return {"scheduledSessions": None}
    sessions = scene.weekend.sessions if scene.weekend else [scene.script] if scene.script else []
    out = []
    for script in sessions:
        cond = script.conditions[0] if script.conditions else None
        out.append(
            {
                "airTemp": round(cond.ambient_temp) if cond else 20,
                "lengthTime": round(script.max_time / 60),
                "name": _scheduled_name(script.session),
                "rainChance": round(cond.raining * 100) if cond else 0,
            }
        )
    return {"scheduledSessions": out}


def trackmap(scene: Scene) -> list:
    if not scene.in_session:
        return []
    return [
        {"type": int(p.type), "x": f(p.x), "y": f(p.y), "z": f(p.z)}
        for p in scene.live.script.track.points
    ]


def chat(scene: Scene) -> list:
    if not scene.in_session:
        return []
    return [{"message": line.message, "timestamp": int(line.timestamp)} for line in scene.live.chat]
