"""Needlet windows: partition of unity (sum_j h_j^2 = 1) and peak positions."""

import numpy as np
import pytest

from cmbml.ilc import cosine_needlet_windows, gaussian_needlet_windows


@pytest.mark.parametrize(
    "ellpeaks", [[100, 200, 300, 383], [200, 715, 1025], [50, 100, 150, 191], [7, 33]]
)
def test_cosine_windows_sum_of_squares_is_one_and_peak_at_ellpeaks(ellpeaks):
    windows = cosine_needlet_windows(ellpeaks)
    lmax = ellpeaks[-1] - 1
    assert windows.shape == (len(ellpeaks) + 1, lmax + 1)
    np.testing.assert_allclose(np.sum(windows**2, axis=0), 1.0, rtol=0, atol=1e-12)
    assert np.all(windows >= 0)
    peaks = [0, *ellpeaks[:-1]]
    for j, peak in enumerate(peaks):
        assert np.argmax(windows[j]) == peak
        assert windows[j, peak] == pytest.approx(1.0, abs=1e-15)
    # the last peak is lmax + 1: the last window rises monotonically up to lmax
    assert np.argmax(windows[-1]) == lmax
    assert np.all(np.diff(windows[-1, ellpeaks[-2] :]) > 0)


def test_cosine_windows_reject_unsorted_peaks():
    with pytest.raises(ValueError, match="strictly increasing"):
        cosine_needlet_windows([200, 100, 383])


def test_gaussian_windows_sum_of_squares_is_one_and_peaks_increase():
    windows = gaussian_needlet_windows([300.0, 120.0, 60.0, 30.0], lmax=1000)
    np.testing.assert_allclose(np.sum(windows**2, axis=0), 1.0, rtol=0, atol=1e-12)
    peaks = np.argmax(windows, axis=1)
    assert peaks[0] == 0
    assert np.all(np.diff(peaks) > 0)
