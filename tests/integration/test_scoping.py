from clients.selectors import caseload_episodes, clients_visible_to, episodes_visible_to


def test_a_therapist_sees_only_their_own_clients(cast):
    assert list(episodes_visible_to(cast.therapist)) == [cast.episode]
    assert list(clients_visible_to(cast.therapist)) == [cast.client]


def test_a_supervisor_sees_the_clients_of_the_teams_they_supervise_only(cast):
    assert list(episodes_visible_to(cast.supervisor)) == [cast.episode]


def test_a_clinic_admin_sees_the_whole_clinic(cast):
    assert set(episodes_visible_to(cast.admin)) == {cast.episode, cast.other_episode}


def test_staff_of_another_clinic_see_nothing(cast):
    assert not episodes_visible_to(cast.outsider).exists()


def test_the_caseload_holds_only_active_episodes_of_the_therapist(cast):
    assert list(caseload_episodes(cast.therapist)) == [cast.episode]
    cast.episode.ended_on = cast.episode.started_on
    cast.episode.save()
    assert not caseload_episodes(cast.therapist).exists()
