"""Haversine great-circle distances (km) between consecutive waypoints and total route length."""
import numpy as np


def make_args(rng):
    lat = rng.uniform(-60, 60, 40)
    lon = rng.uniform(-180, 180, 40)
    return (lat, lon)


def program(lat_deg, lon_deg):
    earth_radius_km = 6371.0
    lat = np.radians(lat_deg)
    lon = np.deg2rad(lon_deg)
    dlat = np.diff(lat)
    dlon = np.diff(lon)
    a = np.sin(dlat / 2) ** 2 + np.cos(lat[:-1]) * np.cos(lat[1:]) * np.sin(dlon / 2) ** 2
    c = 2 * np.arctan2(np.sqrt(a), np.sqrt(1 - a))
    legs = earth_radius_km * c
    return legs, legs.sum()
