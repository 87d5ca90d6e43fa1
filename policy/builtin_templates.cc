// The end-user alert texts hijackguard ships, per locale. A policy may override
// any of them (alerts.templates in the policy document; docs/policy.md).
//
// Placeholders: {device_name}, {os_version}, {fixed_in}, {deadline} (the
// deadline notice only), {user}, {admin_insert}. Keep every placeholder of the
// English text in each translation; the policy tests render every locale and
// check that none is left unexpanded.
#include "policy/templates.h"

namespace hijackguard::policy {

const std::vector<BuiltinLocale>& BuiltinLocales() {
  static const std::vector<BuiltinLocale> kLocales = {
      {
          .locale = "en",
          .latest_release = "the latest iOS release",
          .deadline_notice = "Sync on this device will be paused if it is "
                             "still not updated on {deadline}.",
          .kinds = {{
              // kWarn
              {"Update iOS on your {device_name}",
               "Your {device_name} runs {os_version}, whose Calendar can "
               "make you the organizer of meetings you were only invited "
               "to. Updates then go to the wrong people, and declining on "
               "the device can cancel the meeting for everyone.",
               "Update to {fixed_in} (Settings > General > Software "
               "Update). Until then, accept or decline meetings in "
               "Outlook, not in the Calendar app."},
              // kWarnCalendar
              {"Calendar sync paused on your {device_name}",
               "Your {device_name} runs {os_version}, whose Calendar can "
               "make you the organizer of meetings you were only invited "
               "to. Calendar sync on this device is paused; mail keeps "
               "working.",
               "Update to {fixed_in} (Settings > General > Software "
               "Update). Use Outlook for meetings until then."},
              // kQuarantine
              {"Mail and calendar sync paused on your {device_name}",
               "Your {device_name} ({os_version}) changed, or can change, "
               "the organizer of meetings you were invited to. Such "
               "changes send updates to the wrong people or cancel the "
               "meeting for everyone, so sync on this device is paused.",
               "Update to {fixed_in}, then contact your IT help desk. Do "
               "not accept, decline or edit meetings on this device until "
               "sync is back."},
              // kQuarantineCalendar
              {"Calendar sync paused on your {device_name}",
               "Your {device_name} ({os_version}) changed, or can change, "
               "the organizer of meetings you were invited to, so calendar "
               "sync on this device is paused. Mail keeps working.",
               "Update to {fixed_in}, then contact your IT help desk. Use "
               "Outlook for meetings until calendar sync is back."},
              // kBlock
              {"Your {device_name} can no longer sync",
               "Your {device_name} ({os_version}) puts the meetings of "
               "your colleagues at risk, so it has been blocked from mail "
               "and calendar sync.",
               "Update to {fixed_in} and contact your IT help desk to get "
               "access back."},
          }},
      },
      {
          .locale = "de",
          .latest_release = "die neueste iOS-Version",
          .deadline_notice = "Wird dieses Gerät nicht bis {deadline} "
                             "aktualisiert, wird die Synchronisierung auf "
                             "diesem Gerät pausiert.",
          .kinds = {{
              // kWarn
              {"Aktualisieren Sie iOS auf Ihrem {device_name}",
               "Auf Ihrem {device_name} läuft {os_version}. In dieser "
               "Version kann der Kalender Sie zum Organisator von "
               "Besprechungen machen, zu denen Sie nur eingeladen sind. "
               "Änderungen gehen dann an die falschen Personen, und eine "
               "Absage auf dem Gerät kann die Besprechung für alle "
               "streichen.",
               "Aktualisieren Sie auf {fixed_in} (Einstellungen > "
               "Allgemein > Softwareupdate). Nehmen Sie Besprechungen "
               "bis dahin in Outlook an oder lehnen Sie sie dort ab, "
               "nicht in der Kalender-App."},
              // kWarnCalendar
              {"Kalendersynchronisierung auf Ihrem {device_name} pausiert",
               "Auf Ihrem {device_name} läuft {os_version}. In dieser "
               "Version kann der Kalender Sie zum Organisator von "
               "Besprechungen machen, zu denen Sie nur eingeladen sind. "
               "Die Kalendersynchronisierung auf diesem Gerät ist "
               "pausiert; E-Mail funktioniert weiterhin.",
               "Aktualisieren Sie auf {fixed_in} (Einstellungen > "
               "Allgemein > Softwareupdate). Verwenden Sie bis dahin "
               "Outlook für Besprechungen."},
              // kQuarantine
              {"E-Mail- und Kalendersynchronisierung auf Ihrem "
               "{device_name} pausiert",
               "Ihr {device_name} ({os_version}) hat den Organisator von "
               "Besprechungen, zu denen Sie eingeladen sind, geändert "
               "oder kann ihn ändern. Solche Änderungen senden "
               "Aktualisierungen an die falschen Personen oder sagen die "
               "Besprechung für alle ab. Daher ist die Synchronisierung "
               "auf diesem Gerät pausiert.",
               "Aktualisieren Sie auf {fixed_in} und wenden Sie sich dann "
               "an Ihren IT-Helpdesk. Nehmen Sie auf diesem Gerät keine "
               "Besprechungen an, lehnen Sie keine ab und bearbeiten Sie "
               "keine, bis die Synchronisierung wieder läuft."},
              // kQuarantineCalendar
              {"Kalendersynchronisierung auf Ihrem {device_name} pausiert",
               "Ihr {device_name} ({os_version}) hat den Organisator von "
               "Besprechungen, zu denen Sie eingeladen sind, geändert "
               "oder kann ihn ändern. Daher ist die "
               "Kalendersynchronisierung auf diesem Gerät pausiert. "
               "E-Mail funktioniert weiterhin.",
               "Aktualisieren Sie auf {fixed_in} und wenden Sie sich dann "
               "an Ihren IT-Helpdesk. Verwenden Sie Outlook für "
               "Besprechungen, bis die Kalendersynchronisierung wieder "
               "läuft."},
              // kBlock
              {"Ihr {device_name} kann nicht mehr synchronisieren",
               "Ihr {device_name} ({os_version}) gefährdet die "
               "Besprechungen Ihrer Kolleginnen und Kollegen. Daher wurde "
               "das Gerät für die E-Mail- und Kalendersynchronisierung "
               "gesperrt.",
               "Aktualisieren Sie auf {fixed_in} und wenden Sie sich an "
               "Ihren IT-Helpdesk, um wieder Zugriff zu erhalten."},
          }},
      },
      {
          .locale = "fr",
          .latest_release = "la dernière version d'iOS",
          .deadline_notice = "La synchronisation sur cet appareil sera "
                             "suspendue s'il n'est toujours pas mis à jour le "
                             "{deadline}.",
          .kinds = {{
              // kWarn
              {"Mettez à jour iOS sur votre {device_name}",
               "Votre {device_name} fonctionne sous {os_version}, dont le "
               "Calendrier peut faire de vous l'organisateur de réunions "
               "auxquelles vous êtes seulement invité. Les mises à jour "
               "partent alors aux mauvaises personnes, et refuser une "
               "réunion sur l'appareil peut l'annuler pour tout le monde.",
               "Installez {fixed_in} (Réglages > Général > Mise à jour "
               "logicielle). D'ici là, acceptez ou refusez les réunions "
               "dans Outlook, et non dans l'app Calendrier."},
              // kWarnCalendar
              {"Synchronisation du calendrier suspendue sur votre "
               "{device_name}",
               "Votre {device_name} fonctionne sous {os_version}, dont le "
               "Calendrier peut faire de vous l'organisateur de réunions "
               "auxquelles vous êtes seulement invité. La synchronisation "
               "du calendrier est suspendue sur cet appareil ; la "
               "messagerie continue de fonctionner.",
               "Installez {fixed_in} (Réglages > Général > Mise à jour "
               "logicielle). D'ici là, utilisez Outlook pour vos "
               "réunions."},
              // kQuarantine
              {"Messagerie et calendrier suspendus sur votre {device_name}",
               "Votre {device_name} ({os_version}) a modifié, ou peut "
               "modifier, l'organisateur de réunions auxquelles vous êtes "
               "invité. Ces modifications envoient des mises à jour aux "
               "mauvaises personnes ou annulent la réunion pour tout le "
               "monde : la synchronisation est donc suspendue sur cet "
               "appareil.",
               "Installez {fixed_in}, puis contactez votre support IT. "
               "N'acceptez, ne refusez et ne modifiez aucune réunion sur "
               "cet appareil tant que la synchronisation n'est pas "
               "rétablie."},
              // kQuarantineCalendar
              {"Synchronisation du calendrier suspendue sur votre "
               "{device_name}",
               "Votre {device_name} ({os_version}) a modifié, ou peut "
               "modifier, l'organisateur de réunions auxquelles vous êtes "
               "invité : la synchronisation du calendrier est donc "
               "suspendue sur cet appareil. La messagerie continue de "
               "fonctionner.",
               "Installez {fixed_in}, puis contactez votre support IT. "
               "Utilisez Outlook pour vos réunions jusqu'au "
               "rétablissement de la synchronisation du calendrier."},
              // kBlock
              {"Votre {device_name} ne peut plus se synchroniser",
               "Votre {device_name} ({os_version}) met en péril les "
               "réunions de vos collègues : son accès à la messagerie et "
               "au calendrier a donc été bloqué.",
               "Installez {fixed_in} et contactez votre support IT pour "
               "retrouver l'accès."},
          }},
      },
      {
          .locale = "es",
          .latest_release = "la última versión de iOS",
          .deadline_notice = "La sincronización en este dispositivo se "
                             "suspenderá si sigue sin actualizarse el "
                             "{deadline}.",
          .kinds = {{
              // kWarn
              {"Actualice iOS en su {device_name}",
               "Su {device_name} utiliza {os_version}, cuyo Calendario "
               "puede hacer que usted figure como organizador de "
               "reuniones a las que solo fue invitado. Las "
               "actualizaciones llegan entonces a las personas "
               "equivocadas, y rechazar una reunión en el dispositivo "
               "puede cancelarla para todos.",
               "Actualice a {fixed_in} (Ajustes > General > Actualización "
               "de software). Hasta entonces, acepte o rechace las "
               "reuniones en Outlook, no en la app Calendario."},
              // kWarnCalendar
              {"Sincronización del calendario suspendida en su "
               "{device_name}",
               "Su {device_name} utiliza {os_version}, cuyo Calendario "
               "puede hacer que usted figure como organizador de "
               "reuniones a las que solo fue invitado. La sincronización "
               "del calendario está suspendida en este dispositivo; el "
               "correo sigue funcionando.",
               "Actualice a {fixed_in} (Ajustes > General > Actualización "
               "de software). Hasta entonces, use Outlook para las "
               "reuniones."},
              // kQuarantine
              {"Sincronización del correo y el calendario suspendida en su "
               "{device_name}",
               "Su {device_name} ({os_version}) ha cambiado, o puede "
               "cambiar, el organizador de reuniones a las que usted fue "
               "invitado. Estos cambios envían actualizaciones a las "
               "personas equivocadas o cancelan la reunión para todos, "
               "por lo que la sincronización está suspendida en este "
               "dispositivo.",
               "Actualice a {fixed_in} y luego contacte con el soporte de "
               "IT. No acepte, rechace ni modifique reuniones en este "
               "dispositivo hasta que se restablezca la sincronización."},
              // kQuarantineCalendar
              {"Sincronización del calendario suspendida en su "
               "{device_name}",
               "Su {device_name} ({os_version}) ha cambiado, o puede "
               "cambiar, el organizador de reuniones a las que usted fue "
               "invitado, por lo que la sincronización del calendario "
               "está suspendida en este dispositivo. El correo sigue "
               "funcionando.",
               "Actualice a {fixed_in} y luego contacte con el soporte de "
               "IT. Use Outlook para las reuniones hasta que se "
               "restablezca la sincronización del calendario."},
              // kBlock
              {"Su {device_name} ya no puede sincronizarse",
               "Su {device_name} ({os_version}) pone en riesgo las "
               "reuniones de sus compañeros, por lo que se ha bloqueado "
               "su sincronización de correo y calendario.",
               "Actualice a {fixed_in} y contacte con el soporte de IT "
               "para recuperar el acceso."},
          }},
      },
      {
          .locale = "ja",
          .latest_release = "最新のiOS",
          .deadline_notice = "{deadline}までにアップデートされない場合、"
                             "このデバイスの同期は一時停止されます。",
          .kinds = {{
              // kWarn
              {"{device_name}のiOSをアップデートしてください",
               "お使いの{device_name}は{os_version}で動作しています。"
               "このバージョンのカレンダーでは、招待されただけの会議で"
               "あなたが主催者になってしまうことがあります。その場合、"
               "更新内容が誤った相手に送信されたり、"
               "デバイスで辞退すると会議が全員に対して"
               "キャンセルされたりします。",
               "{fixed_in}にアップデートしてください（設定 > 一般 > "
               "ソフトウェア・アップデート）。それまでは、"
               "会議の承諾や辞退はカレンダーアプリではなく"
               "Outlookで行ってください。"},
              // kWarnCalendar
              {"{device_name}のカレンダー同期を一時停止しました",
               "お使いの{device_name}は{os_version}で動作しています。"
               "このバージョンのカレンダーでは、招待されただけの会議で"
               "あなたが主催者になってしまうことがあります。"
               "このデバイスのカレンダー同期を一時停止しました。"
               "メールは引き続きご利用いただけます。",
               "{fixed_in}にアップデートしてください（設定 > 一般 > "
               "ソフトウェア・アップデート）。それまでは、"
               "会議にはOutlookをご利用ください。"},
              // kQuarantine
              {"{device_name}のメールとカレンダーの同期を一時停止しました",
               "お使いの{device_name}（{os_version}）は、"
               "招待された会議の主催者を変更した、"
               "または変更するおそれがあります。このような変更により、"
               "更新内容が誤った相手に送信されたり、会議が全員に対して"
               "キャンセルされたりするため、"
               "このデバイスの同期を一時停止しました。",
               "{fixed_in}にアップデートしてから、"
               "ITヘルプデスクにお問い合わせください。"
               "同期が再開されるまで、このデバイスで会議の承諾、辞退、"
               "編集を行わないでください。"},
              // kQuarantineCalendar
              {"{device_name}のカレンダー同期を一時停止しました",
               "お使いの{device_name}（{os_version}）は、"
               "招待された会議の主催者を変更した、"
               "または変更するおそれがあるため、"
               "このデバイスのカレンダー同期を一時停止しました。"
               "メールは引き続きご利用いただけます。",
               "{fixed_in}にアップデートしてから、"
               "ITヘルプデスクにお問い合わせください。"
               "カレンダー同期が再開されるまで、"
               "会議にはOutlookをご利用ください。"},
              // kBlock
              {"{device_name}は同期できなくなりました",
               "お使いの{device_name}（{os_version}）は同僚の会議に"
               "影響を及ぼすおそれがあるため、"
               "メールとカレンダーの同期をブロックしました。",
               "{fixed_in}にアップデートのうえ、アクセスの回復について"
               "ITヘルプデスクにお問い合わせください。"},
          }},
      },
  };
  return kLocales;
}

}  // namespace hijackguard::policy
