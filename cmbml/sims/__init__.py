"""Simulation physics: instrument, CMB, foregrounds, sky assembly, noise and mask."""
